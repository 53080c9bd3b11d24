"""Per-example gradients, their closed-form norms and the DP-SGD clipped sum, against
jax.vmap(jax.grad) and optax's per-example clipping, for 1 and 3 layers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import auto_grad as ag
import compare
import manual_grad as mg

NETS = {"1 layer": (6, 4), "3 layers": (6, 7, 5, 4)}
B = 9


def _vmap_grad(layers, x, t, **kw):
    """The reference, built here from ag.mlp_loss alone: the gradient of each example's loss."""

    def one(xb, tb):
        return jax.grad(ag.mlp_loss)(layers, xb[None], tb[None], reduction="sum", **kw)

    return jax.vmap(one)(x, t)


@pytest.mark.parametrize(
    ("loss", "activation"), [("ce", "softmax"), ("bce", "sigmoid"), ("mse", "tanh")]
)
@pytest.mark.parametrize("sizes", NETS.values(), ids=NETS.keys())
def test_per_example_grads_and_norms_match_vmap_grad(sizes, loss, activation):
    layers, x, t = compare.make_network(np.random.default_rng(0), loss, sizes, B, "float64")
    kw = {"hidden": "tanh", "loss": loss, "activation": activation}
    want = _vmap_grad(layers, x, t, **kw)
    got = mg.per_example_grads(layers, x, t, **kw)
    assert compare.assert_grads_close(got, want).max_rel_err <= 1e-10
    assert [g.w.shape for g in got] == [(B, *lay.w.shape) for lay in layers]
    norms = mg.per_example_grad_norms(layers, x, t, **kw)
    want_norms = jax.vmap(optax.tree.norm)(want)
    assert compare.assert_grads_close(norms, want_norms).max_rel_err <= 1e-10
    assert norms.shape == (B,)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("clip_norm", [0.0, "median", 1e6])
@pytest.mark.parametrize("sizes", NETS.values(), ids=NETS.keys())
def test_clipped_grads_match_optax_per_example_clipping(sizes, clip_norm, reduction):
    layers, x, t = compare.make_network(np.random.default_rng(1), "ce", sizes, B, "float64")
    kw = {"hidden": "relu", "loss": "ce", "activation": "softmax"}
    if clip_norm == "median":  # clips about half of the examples and leaves the rest
        clip_norm = float(np.median(jax.vmap(optax.tree.norm)(_vmap_grad(layers, x, t, **kw))))
    clipped_sum, num_clipped = optax.per_example_global_norm_clip(
        _vmap_grad(layers, x, t, **kw), clip_norm
    )
    want = jax.tree.map(lambda g: g / B, clipped_sum) if reduction == "mean" else clipped_sum
    got = mg.clipped_grads(layers, x, t, clip_norm=clip_norm, reduction=reduction, **kw)
    report = compare.assert_grads_close(got, want, batch_size=B)
    assert report.max_rel_err <= 1e-10
    assert num_clipped == {0.0: B, 1e6: 0}.get(clip_norm, B // 2)


def test_no_clipping_is_the_plain_gradient():
    layers, x, t = compare.make_network(np.random.default_rng(2), "mse", (6, 7, 4), B, "float64")
    kw = {"hidden": "sigmoid", "loss": "mse", "activation": "identity"}
    got = mg.clipped_grads(layers, x, t, clip_norm=np.inf, **kw)
    compare.assert_grads_close(got, mg.mlp_grads(layers, x, t, **kw)[0])


def test_clip_norm_is_traced_and_checked():
    layers, x, t = compare.make_network(np.random.default_rng(3), "ce", (6, 4), B, "float32")
    kw = {"hidden": "tanh", "loss": "ce", "activation": "softmax"}
    step = jax.jit(lambda c: mg.clipped_grads(layers, x, t, clip_norm=c, **kw))
    small, large = step(0.01), step(100.0)
    assert optax.tree.norm(small) < optax.tree.norm(large)
    with pytest.raises(ValueError, match=r"clip_norm must be >= 0; got -1\.0"):
        mg.clipped_grads(layers, x, t, clip_norm=-1.0, **kw)
    with pytest.raises(TypeError, match="clip_norm must be a real scalar"):
        mg.clipped_grads(layers, x, t, clip_norm=jnp.ones(2), **kw)


def test_norms_never_build_per_example_tensors():
    """XLA's own accounting: the closed-form norms need far less scratch memory than the
    [B, m, n] per-example gradients that vmap(grad) materializes."""
    layers, x, t = compare.make_network(
        np.random.default_rng(4), "ce", (256, 256, 10), 64, "float32"
    )
    kw = {"hidden": "relu", "loss": "ce", "activation": "softmax"}
    temp = {
        name: jax.jit(lambda ls, x, t, f=f: f(ls, x, t, **kw))
        .lower(layers, x, t)
        .compile()
        .memory_analysis()
        .temp_size_in_bytes
        for name, f in {
            "closed": mg.per_example_grad_norms,
            "vmap": ag.per_example_grad_norms,
        }.items()
    }
    per_example_bytes = 64 * 256 * 256 * 4  # one [B, m, n] float32 tensor
    assert temp["vmap"] >= per_example_bytes
    assert temp["closed"] < per_example_bytes / 50
