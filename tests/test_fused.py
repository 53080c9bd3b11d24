"""The fused, chunked linear + cross-entropy against optax on the full logits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import compare
import manual_grad as mg


def _problem(B=37, m=16, V=50, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    params = mg.Dense(
        jnp.asarray(rng.standard_normal((m, V)) / 4, dtype),
        jnp.asarray(rng.standard_normal(V), dtype),
    )
    return (
        params,
        jnp.asarray(rng.standard_normal((B, m)), dtype),
        jnp.asarray(rng.integers(0, V, B), jnp.int32),
    )


def _optax(params, y, labels, reduction="mean"):
    b = 0 if params.b is None else params.b
    per_example = optax.softmax_cross_entropy_with_integer_labels(y @ params.w + b, labels)
    return per_example.mean() if reduction == "mean" else per_example.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk_size", [1, 8, 37, 256])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_optax_loss_and_gradient(dtype, chunk_size, reduction):
    params, y, labels = _problem(dtype=dtype)
    fused = lambda p, y: mg.fused_linear_cross_entropy(  # noqa: E731
        p, y, labels, chunk_size=chunk_size, reduction=reduction
    )
    value, grads = jax.value_and_grad(fused, argnums=(0, 1))(params, y)
    want_value, want_grads = jax.value_and_grad(_optax, argnums=(0, 1))(
        params, y, labels, reduction
    )
    compare.assert_grads_close(value, want_value)
    report = compare.assert_grads_close(grads, want_grads)
    if dtype == "float64":
        assert report.max_rel_err <= 1e-10


def test_without_bias_and_under_jit():
    params, y, labels = _problem()
    params = mg.Dense(params.w, None)
    grads = jax.jit(jax.grad(lambda p: mg.fused_linear_cross_entropy(p, y, labels)))(params)
    assert grads.b is None
    compare.assert_grads_close(grads.w, jax.grad(_optax)(params, y, labels).w)


def test_out_of_range_label_is_nan_not_a_quiet_number():
    params, y, labels = _problem()
    bad = labels.at[3].set(50)
    assert jnp.isnan(mg.fused_linear_cross_entropy(params, y, bad))
    assert jnp.isnan(jax.grad(mg.fused_linear_cross_entropy)(params, y, bad).w).any()
    assert jnp.isnan(mg.fused_linear_cross_entropy(params, y, labels.at[0].set(-1)))


def test_bad_labels_are_rejected():
    params, y, labels = _problem()
    with pytest.raises(TypeError, match=r"labels must be an integer array.*one-hot"):
        mg.fused_linear_cross_entropy(params, y, jax.nn.one_hot(labels, 50))
    with pytest.raises(TypeError, match="labels must be an integer array"):
        mg.fused_linear_cross_entropy(params, y, labels.astype(jnp.float32))
    with pytest.raises(
        ValueError,
        match=r"labels must have shape \(B,\) = \(37,\) from y "
        r"\(37, 16\); got \(36,\)",
    ):
        mg.fused_linear_cross_entropy(params, y, labels[:-1])
    with pytest.raises(ValueError, match=r"w must have shape \(m, V\) with m = 16"):
        mg.fused_linear_cross_entropy(mg.Dense(params.w[:4], params.b), y, labels)
    with pytest.raises(ValueError, match="chunk_size must be a positive int; got 0"):
        mg.fused_linear_cross_entropy(params, y, labels, chunk_size=0)
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        mg.fused_linear_cross_entropy(params, y, labels, reduction="avg")


def test_temporary_memory_is_chunk_by_vocab_not_batch_by_vocab():
    """XLA's own accounting at B=1024, V=8192: the naive gradient needs several [B, V]
    buffers; the fused one stays near a few [chunk, V] ones."""
    B, m, V, chunk = 1024, 64, 8192, 64
    shapes = (
        jax.ShapeDtypeStruct((m, V), jnp.float32),
        jax.ShapeDtypeStruct((V,), jnp.float32),
        jax.ShapeDtypeStruct((B, m), jnp.float32),
        jax.ShapeDtypeStruct((B,), jnp.int32),
    )

    def temp(f):
        grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))
        return grad.lower(*shapes).compile().memory_analysis().temp_size_in_bytes

    naive = temp(lambda w, b, y, lab: _optax(mg.Dense(w, b), y, lab))
    fused = temp(
        lambda w, b, y, lab: mg.fused_linear_cross_entropy(mg.Dense(w, b), y, lab, chunk_size=chunk)
    )
    logits_bytes = B * V * 4
    assert naive >= logits_bytes
    assert fused < logits_bytes / 2
    assert fused <= 0.15 * naive
