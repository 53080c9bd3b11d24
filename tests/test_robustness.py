"""The edges: extreme logits, low precision, property-based sweeps and invariants, one trace
per shape, and no host transfers inside jitted code."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auto_grad as ag
import compare
import manual_grad as mg
from compare import _stress

FUSED = [(loss, act) for loss, spec in mg.LOSSES.items() for act in spec.fused]


# -- extreme logits ---------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e4, 1e6])
@pytest.mark.parametrize(("loss", "activation"), FUSED)
def test_fused_pairs_are_finite_and_correct_at_extreme_logits(loss, activation, scale):
    """|u| >= 1e4 in float32 with targets exactly 0 and 1: both libraries stay finite and
    agree with a float64 reference."""
    rng = np.random.default_rng(0)
    n = 5
    w = scale * rng.standard_normal((1, n))  # y = 1, so u = w + b: logits of size `scale`
    t = (
        np.eye(n)[rng.integers(0, n, 4)]
        if loss == "ce"
        else rng.integers(0, 2, (4, n)).astype(float)
    )
    y = np.ones((4, 1))
    args64 = (mg.Dense(jnp.asarray(w), jnp.zeros(n)), jnp.asarray(y), jnp.asarray(t))
    args32 = jax.tree.map(lambda a: a.astype(jnp.float32), args64)
    kw = {"loss": loss, "activation": activation}
    want = ag.output_layer_grads(*args64, **kw)
    for lib in (mg, ag):
        got = lib.output_layer_grads(*args32, **kw)
        assert all(bool(jnp.isfinite(g).all()) for g in got)
        compare.assert_grads_close(got, want)
        assert jnp.isfinite(lib.loss(*args32, **kw))


def test_stress_table_shows_naive_autodiff_failing_where_the_closed_form_holds():
    rows = {(r["pair"], r["|u|"]): r for r in _stress.rows()}
    for pair in ("ce+softmax", "bce+sigmoid", "ce+sigmoid"):
        for scale in ("1", "10", "100", "10000"):
            row = rows[(pair, scale)]
            assert float(row["manual"]) < 1e-5 and float(row["auto"]) < 1e-5, row
    assert rows[("ce+softmax", "10000")]["naive"] == "NaN"
    assert rows[("bce+sigmoid", "10000")]["naive"] == "NaN"


def _stable_energy(loss, activation):
    """E in float64, written so that no log sees a rounded 0 or 1: bce+softmax takes
    log(1 - y_k) as logsumexp of the other logits minus logsumexp of all."""
    if loss == "mse":
        return lambda u, t: ag.loss(
            ag.Dense(jnp.eye(u.shape[1]), jnp.zeros(u.shape[1])),
            u,
            t,
            loss=loss,
            activation=activation,
        )

    def bce_softmax(u, t):
        others = jnp.where(jnp.eye(u.shape[1], dtype=bool), -jnp.inf, u[:, None, :])
        lse = jax.nn.logsumexp(u, axis=1, keepdims=True)
        log_y, log_1my = u - lse, jax.nn.logsumexp(others, axis=2) - lse
        return -jnp.sum(t * log_y + (1 - t) * log_1my, axis=1).mean()

    return bce_softmax


@pytest.mark.parametrize("gap", [20.0, 80.0, 88.0, 95.0, 110.0, 1e4])
@pytest.mark.parametrize(("loss", "activation"), [p for p in mg.PAIRS if p not in FUSED])
def test_general_chain_rule_is_never_finite_and_wrong(loss, activation, gap):
    """Where the general pairs lose precision they say so with NaN, never a finite wrong
    number (the subnormal range, where flushing to zero would hide the error, included)."""
    u = jnp.asarray([[0.0, -gap, -3.0], [gap, 0.0, 1.0]], jnp.float32)
    reference = jax.grad(_stable_energy(loss, activation))
    for t in ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]):
        t = jnp.asarray(t, jnp.float32)
        got = np.asarray(mg.delta(u, t, loss=loss, activation=activation))
        want = np.asarray(reference(u.astype(jnp.float64), t.astype(jnp.float64)))
        assert np.isfinite(want).all()
        finite = np.isfinite(got)
        np.testing.assert_allclose(
            got[finite],
            want[finite],
            rtol=1e-4,
            atol=1e-5 * np.abs(want).max(),  # f32 rounding
        )
        assert np.all(np.isnan(got[~finite])), got  # what is not right is NaN, not Inf


# -- low precision ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
def test_low_precision_gradients_pass_and_a_5_percent_error_fails(loss, activation, dtype):
    params, y, t = compare.make_problem(np.random.default_rng(0), loss, (16, 8, 5), "float64")
    low = jax.tree.map(lambda a: a.astype(dtype), (params, y, t))
    # The reference: float64 at the very inputs the low-precision call sees.
    want = ag.output_layer_grads(
        *jax.tree.map(lambda a: a.astype(jnp.float64), low), loss=loss, activation=activation
    )
    for lib in (mg, ag):
        got = lib.output_layer_grads(*low, loss=loss, activation=activation)
        assert {g.dtype for g in got} == {jnp.dtype(dtype)}  # returned in the input dtype
        report = compare.assert_grads_close(got, want)
        assert {leaf.dtype for leaf in report.leaves} == {dtype}
        assert all(np.isfinite(leaf.max_ulps) for leaf in report.leaves)
        with pytest.raises(AssertionError):
            compare.assert_grads_close(jax.tree.map(lambda g: 1.05 * g, got), want)


def test_low_precision_rule_covers_networks_and_grad():
    layers, x, t = compare.make_network(np.random.default_rng(1), "ce", (6, 5, 3), 8, "float64")
    low = jax.tree.map(lambda a: a.astype(jnp.bfloat16), (layers, x, t))
    kw = {"hidden": "tanh", "loss": "ce", "activation": "softmax"}
    grads, dx = mg.mlp_grads(*low, **kw)
    assert {g.dtype for g in jax.tree.leaves((grads, dx))} == {jnp.dtype(jnp.bfloat16)}
    assert jax.grad(mg.mlp_loss)(*low, **kw)[0].w.dtype == jnp.bfloat16
    want = ag.mlp_grads(*jax.tree.map(lambda a: a.astype(jnp.float64), low), **kw)
    compare.assert_grads_close((grads, dx), want)


# -- property-based sweep ---------------------------------------------------------------


@st.composite
def _cases(draw):
    loss, activation = draw(st.sampled_from(mg.PAIRS))
    B, m = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    n = draw(st.integers(2 if (loss, activation) == ("bce", "softmax") else 1, 6))
    return (
        loss,
        activation,
        (B, m, n),
        draw(st.sampled_from(["mean", "sum"])),
        draw(st.sampled_from(["float32", "float64"])),
        draw(st.integers(0, 2**16)),
    )


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_random_sweep_matches_jax_grad(case):
    loss, activation, shape, reduction, dtype, seed = case
    params, y, t = compare.make_problem(np.random.default_rng(seed), loss, shape, dtype)
    kw = {"loss": loss, "activation": activation, "reduction": reduction}
    compare.assert_grads_close(
        mg.output_layer_grads(params, y, t, **kw),
        ag.output_layer_grads(params, y, t, **kw),
        batch_size=shape[0],
    )
    compare.assert_grads_close(mg.loss(params, y, t, **kw), ag.loss(params, y, t, **kw))


# -- invariants -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(2, 7), st.integers(0, 2**16))
def test_ce_softmax_delta_rows_sum_to_zero(B, n, seed):
    _, _, t = compare.make_problem(np.random.default_rng(seed), "ce", (B, 3, n), "float64")
    u = jnp.asarray(np.random.default_rng(seed + 1).standard_normal((B, n)) * 5)
    delta = mg.delta(u, t, loss="ce", activation="softmax", reduction="sum")
    np.testing.assert_allclose(delta.sum(axis=1), 0, atol=1e-14)


@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
@pytest.mark.parametrize("B", [4, 5])
def test_sum_is_b_times_mean(loss, activation, B):
    params, y, t = compare.make_problem(np.random.default_rng(B), loss, (B, 4, 3), "float64")
    kw = {"loss": loss, "activation": activation}
    mean = mg.output_layer_grads(params, y, t, reduction="mean", **kw)
    total = mg.output_layer_grads(params, y, t, reduction="sum", **kw)
    scaled = jax.tree.map(lambda g: B * g, mean)
    if B & (B - 1) == 0:  # dividing by a power of two is exact
        for a, b in zip(total, scaled, strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        compare.assert_grads_close(total, scaled)


@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
def test_db_equals_dw_of_an_all_ones_input_column(loss, activation):
    params, y, t = compare.make_problem(np.random.default_rng(0), loss, (6, 4, 3), "float64")
    y = y.at[:, 2].set(1.0)
    grads = mg.output_layer_grads(params, y, t, loss=loss, activation=activation)
    np.testing.assert_allclose(grads.dw[2], grads.db, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
def test_dy_is_linear_in_w(loss, activation):
    """With y = 0, u = b does not depend on w, so neither does delta, and eq. (4)
    dy = delta @ w.T must be linear in w."""
    rng = np.random.default_rng(1)
    params, y, t = compare.make_problem(rng, loss, (5, 4, 3), "float64")
    y = jnp.zeros_like(y)
    w1, w2 = params.w, jnp.asarray(rng.standard_normal(params.w.shape))

    def dy(w):
        return mg.output_layer_grads(
            mg.Dense(w, params.b), y, t, loss=loss, activation=activation
        ).dy

    compare.assert_grads_close(dy(2.0 * w1 - 3.0 * w2), 2.0 * dy(w1) - 3.0 * dy(w2))


# -- one trace per shape, no host transfers ---------------------------------------------


def _calls():
    """(name, jitted function behind it, call(args)) for every public jitted function."""
    kw = {"loss": "ce", "activation": "softmax"}
    net = {"hidden": "tanh", **kw}
    clip = jnp.asarray(0.5, jnp.float32)
    return [
        ("forward", mg.forward.jitted, lambda p, y, t, n: mg.forward(p, y, activation="tanh")),
        ("loss", mg.loss.jitted, lambda p, y, t, n: mg.loss(p, y, t, **kw)),
        ("delta", mg.delta.jitted, lambda p, y, t, n: mg.delta(y @ p.w, t, **kw)),
        (
            "output_layer_grads",
            mg.output_layer_grads.jitted,
            lambda p, y, t, n: mg.output_layer_grads(p, y, t, **kw),
        ),
        (
            "mlp_forward",
            mg.mlp_forward.jitted,
            lambda p, y, t, n: mg.mlp_forward(n, y, hidden="tanh", activation="softmax"),
        ),
        ("mlp_loss", mg.mlp_loss.jitted, lambda p, y, t, n: mg.mlp_loss(n, y, t, **net)),
        ("mlp_grads", mg.mlp_grads.jitted, lambda p, y, t, n: mg.mlp_grads(n, y, t, **net)),
        (
            "per_example_grads",
            mg.per_example_grads.jitted,
            lambda p, y, t, n: mg.per_example_grads(n, y, t, **net),
        ),
        (
            "per_example_grad_norms",
            mg.per_example_grad_norms.jitted,
            lambda p, y, t, n: mg.per_example_grad_norms(n, y, t, **net),
        ),
        (
            "clipped_grads",
            mg._per_example._clipped_grads.jitted,
            lambda p, y, t, n: mg.clipped_grads(n, y, t, clip_norm=clip, **net),
        ),
        (
            "fused_linear_cross_entropy",
            mg._fused._fused_linear_cross_entropy,
            lambda p, y, t, n: mg.fused_linear_cross_entropy(p, y, t.argmax(-1).astype(jnp.int32)),
        ),
        (
            "ag.output_layer_grads",
            ag.output_layer_grads.jitted,
            lambda p, y, t, n: ag.output_layer_grads(p, y, t, **kw),
        ),
        ("ag.mlp_grads", ag.mlp_grads.jitted, lambda p, y, t, n: ag.mlp_grads(n, y, t, **net)),
    ]


@pytest.mark.parametrize("name", [c[0] for c in _calls()])
def test_traced_once_per_shape_and_never_touches_the_host(name):
    _, jitted, call = next(c for c in _calls() if c[0] == name)
    rng = np.random.default_rng(0)
    params, y, t = compare.make_problem(rng, "ce", (6, 5, 4), "float32")
    net = compare.make_network(rng, "ce", (5, 7, 4), 6, "float32")[0]
    call(params, y, t, net)
    before = jitted._cache_size()
    inputs = [2.0 * y, 3.0 * y]  # new values, made before the guard
    with jax.transfer_guard("disallow"):
        for y_new in inputs:
            out = call(params, y_new, t, net)
    jax.block_until_ready(out)
    assert jitted._cache_size() == before
    call(params, y[:3], t[:3], net)  # a new shape is a new trace, as it must be
    assert jitted._cache_size() == before + 1


def test_chex_counts_one_trace_through_a_users_jit():
    import chex

    params, y, t = compare.make_problem(np.random.default_rng(0), "bce", (5, 4, 3), "float32")

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, y, t):
        grads = mg.output_layer_grads(params, y, t, loss="bce", activation="sigmoid")
        return jax.tree.map(functools.partial(jnp.multiply, 0.1), grads)

    for scale in (1.0, 2.0, 3.0):
        step(params, scale * y, t)
