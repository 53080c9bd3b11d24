"""manual_grad's closed forms against three independent references: jax.grad (auto_grad),
float64 central differences (jax.test_util.check_grads), and a case worked by hand."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _cases import PAIR_SHAPES
from jax.test_util import check_grads

import auto_grad as ag
import compare
import manual_grad as mg


def _ids(case):
    loss, activation, (B, m, n) = case
    return f"{loss}+{activation}-B{B}m{m}n{n}"


def _quantities(lib, params, y, t, **kw):
    u = y @ params.w + params.b
    return {
        "loss": lib.loss(params, y, t, **kw),
        "delta": lib.delta(u, t, **kw),
        "grads": lib.output_layer_grads(params, y, t, **kw),
    }


@pytest.mark.parametrize("mode", ["jit", "eager"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "activation", "shape"), PAIR_SHAPES, ids=map(_ids, PAIR_SHAPES))
def test_manual_matches_jax_grad(loss, activation, shape, dtype, reduction, mode):
    params, y, t = compare.make_problem(np.random.default_rng(0), loss, shape, dtype)
    kw = {"loss": loss, "activation": activation, "reduction": reduction}
    if mode == "jit":
        # Inside a user's own jit, as a training step would call it.
        got = jax.jit(lambda p, y, t: _quantities(mg, p, y, t, **kw))(params, y, t)
    else:
        with jax.disable_jit():
            got = _quantities(mg, params, y, t, **kw)
    want = _quantities(ag, params, y, t, **kw)

    report = compare.assert_grads_close(got, want, batch_size=shape[0])
    if dtype == "float64":
        assert report.max_rel_err <= 1e-10, report
    B, m, n = shape
    chex.assert_shape([got["grads"].dw, got["grads"].db, got["grads"].dy], [(m, n), (n,), (B, m)])
    chex.assert_shape(got["delta"], (B, n))
    chex.assert_type(jax.tree.leaves(got), jnp.dtype(dtype))


def _closed_form_loss(t, **kw):
    """E(w, b, y) as a custom_vjp whose backward pass is mg.output_layer_grads, so that
    check_grads' reverse-mode check exercises the closed form against finite differences."""

    @jax.custom_vjp
    def energy(w, b, y):
        return mg.loss(mg.Dense(w, b), y, t, **kw)

    def fwd(w, b, y):
        return energy(w, b, y), (w, b, y)

    def bwd(res, g):
        w, b, y = res
        grads = mg.output_layer_grads(mg.Dense(w, b), y, t, **kw)
        return g * grads.dw, g * grads.db, g * grads.dy

    energy.defvjp(fwd, bwd)
    return energy


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(("loss", "activation", "shape"), PAIR_SHAPES, ids=map(_ids, PAIR_SHAPES))
def test_closed_form_matches_central_differences(loss, activation, shape, reduction):
    params, y, t = compare.make_problem(np.random.default_rng(1), loss, shape, "float64")
    energy = _closed_form_loss(t, loss=loss, activation=activation, reduction=reduction)
    check_grads(energy, (params.w, params.b, y), order=1, modes=["rev"], eps=1e-6)


def test_central_differences_catch_a_missing_activation_derivative():
    params, y, t = compare.make_problem(np.random.default_rng(1), "mse", (4, 3, 2), "float64")

    @jax.custom_vjp
    def energy(w, b, y):
        return mg.loss(mg.Dense(w, b), y, t, loss="mse", activation="sigmoid")

    def bwd(res, g):
        w, b, y = res
        delta = (jax.nn.sigmoid(y @ w + b) - t) / y.shape[0]  # dE/dy without dy/du
        return g * y.T @ delta, g * delta.sum(0), g * delta @ w.T

    energy.defvjp(lambda w, b, y: (energy(w, b, y), (w, b, y)), bwd)
    with pytest.raises(AssertionError):
        check_grads(energy, (params.w, params.b, y), order=1, modes=["rev"], eps=1e-6)


class TestWorkedByHand:
    """B = 1, m = n = 2: y = [1, 2], w = [[1, -1], [0.5, 0]], b = [0, 1], t = [1, 0].
    Then u = y @ w + b = [1 + 1 + 0, -1 + 0 + 1] = [2, 0]."""

    params = mg.Dense(jnp.array([[1.0, -1.0], [0.5, 0.0]]), jnp.array([0.0, 1.0]))
    y = jnp.array([[1.0, 2.0]])
    t = jnp.array([[1.0, 0.0]])

    def test_mse_identity(self):
        # out = u = [2, 0]; delta = out - t = [1, 0]; E = 1/2 (1^2 + 0^2) = 0.5.
        # dw_jk = y_j delta_k = [[1, 0], [2, 0]]; db = [1, 0];
        # dy_j = sum_r delta_r w_jr = [1*1 + 0*(-1), 1*0.5 + 0*0] = [1, 0.5].
        kw = {"loss": "mse", "activation": "identity"}
        grads = mg.output_layer_grads(self.params, self.y, self.t, **kw)
        np.testing.assert_allclose(mg.loss(self.params, self.y, self.t, **kw), 0.5)
        np.testing.assert_allclose(grads.dw, [[1.0, 0.0], [2.0, 0.0]])
        np.testing.assert_allclose(grads.db, [1.0, 0.0])
        np.testing.assert_allclose(grads.dy, [[1.0, 0.5]])

    def test_mse_sigmoid(self):
        # out = [s, 1/2] with s = sigmoid(2); dE/dy = out - t = [s - 1, 1/2];
        # dy/du = out (1 - out) = [s (1 - s), 1/4]; delta = [(s - 1) s (1 - s), 1/8].
        s = 1 / (1 + np.exp(-2.0))
        d1 = (s - 1) * s * (1 - s)
        kw = {"loss": "mse", "activation": "sigmoid"}
        grads = mg.output_layer_grads(self.params, self.y, self.t, **kw)
        np.testing.assert_allclose(grads.db, [d1, 0.125], rtol=1e-14)
        np.testing.assert_allclose(grads.dw, [[d1, 0.125], [2 * d1, 0.25]], rtol=1e-14)
        np.testing.assert_allclose(grads.dy, [[d1 - 0.125, 0.5 * d1]], rtol=1e-14)

    def test_ce_softmax(self):
        # out = softmax([2, 0]) = [p, 1 - p] with p = e^2 / (e^2 + 1); delta = out - t
        # = [p - 1, 1 - p]; E = -log p = log(1 + e^-2).
        p = np.exp(2.0) / (np.exp(2.0) + 1)
        kw = {"loss": "ce", "activation": "softmax"}
        grads = mg.output_layer_grads(self.params, self.y, self.t, **kw)
        np.testing.assert_allclose(
            mg.loss(self.params, self.y, self.t, **kw), np.log1p(np.exp(-2.0)), rtol=1e-14
        )
        np.testing.assert_allclose(grads.db, [p - 1, 1 - p], rtol=1e-14)
        np.testing.assert_allclose(grads.dy, [[(p - 1) - (1 - p), 0.5 * (p - 1)]], rtol=1e-14)


def _optax_mse(f):
    return lambda u, t: optax.l2_loss(f(u), t).sum(-1)


_OPTAX_LOSSES = {
    ("ce", "softmax"): optax.softmax_cross_entropy,
    ("bce", "sigmoid"): lambda u, t: optax.sigmoid_binary_cross_entropy(u, t).sum(-1),
    ("mse", "identity"): _optax_mse(lambda u: u),
    ("mse", "sigmoid"): _optax_mse(jax.nn.sigmoid),
    ("mse", "tanh"): _optax_mse(jnp.tanh),
    ("mse", "softmax"): _optax_mse(jax.nn.softmax),
    ("mse", "relu"): _optax_mse(jax.nn.relu),
    ("mse", "softplus"): _optax_mse(jax.nn.softplus),
}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "activation"), list(_OPTAX_LOSSES))
def test_loss_matches_optax(loss, activation, dtype, reduction):
    params, y, t = compare.make_problem(np.random.default_rng(2), loss, (6, 5, 4), dtype)
    per_example = _OPTAX_LOSSES[(loss, activation)](y @ params.w + params.b, t)
    want = per_example.mean() if reduction == "mean" else per_example.sum()
    got = mg.loss(params, y, t, loss=loss, activation=activation, reduction=reduction)
    compare.assert_grads_close(got, want)


@pytest.mark.parametrize(
    ("loss", "activation"),
    [(loss, act) for loss, spec in mg.LOSSES.items() for act in spec.fused],
)
def test_fused_delta_equals_general_chain_rule(loss, activation):
    """Each hand-simplified delta is eq. (1)'s product, computed the long way."""
    _, _, t = compare.make_problem(np.random.default_rng(3), loss, (6, 5, 4), "float64")
    u = jax.random.normal(jax.random.key(3), t.shape, jnp.float64)
    act, spec = mg.ACTIVATIONS[activation], mg.LOSSES[loss]
    out = act.fn(u)
    general = act.vjp(u, out, spec.grad(out, t))
    fused = mg.delta(u, t, loss=loss, activation=activation, reduction="sum")
    compare.assert_grads_close(fused, general)


def test_sum_is_b_times_mean():
    params, y, t = compare.make_problem(np.random.default_rng(4), "ce", (6, 5, 4), "float64")
    kw = {"loss": "ce", "activation": "softmax"}
    mean = mg.output_layer_grads(params, y, t, reduction="mean", **kw)
    total = mg.output_layer_grads(params, y, t, reduction="sum", **kw)
    compare.assert_grads_close(total, jax.tree.map(lambda g: 6 * g, mean))


def test_ce_softmax_delta_is_exact_for_unnormalized_targets():
    """The fused ce+softmax delta keeps sum_k t_k, so it is the true gradient for any t."""
    u = jax.random.normal(jax.random.key(5), (4, 3), jnp.float64)
    t = jax.random.uniform(jax.random.key(6), (4, 3), jnp.float64)  # rows do not sum to 1
    kw = {"loss": "ce", "activation": "softmax"}
    compare.assert_grads_close(mg.delta(u, t, **kw), ag.delta(u, t, **kw))


def test_traced_once_per_shape_and_dtype():
    params, y, t = compare.make_problem(np.random.default_rng(7), "bce", (5, 4, 3), "float32")
    kw = {"loss": "bce", "activation": "sigmoid"}

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, y, t):
        return mg.output_layer_grads(params, y, t, **kw)

    for scale in (1.0, 2.0, 3.0):
        step(params, scale * y, t)
    with pytest.raises(AssertionError, match="traced > 1 times"):
        step(params, y[:2], t[:2])

    # The library's own jit cache: spelling the default out, or reordering keywords, must
    # not trace again.
    fn = mg.output_layer_grads.jitted
    before = fn._cache_size()
    mg.output_layer_grads(params, 4.0 * y, t, **kw)
    after_first = fn._cache_size()
    mg.output_layer_grads(params, y, t, reduction="mean", **kw)
    mg.output_layer_grads(params, y, t, activation="sigmoid", loss="bce")
    assert fn._cache_size() == after_first <= before + 1


def test_pairs_agree_and_include_the_canonical_ones():
    assert set(mg.PAIRS) == set(ag.PAIRS)
    assert {("mse", "identity"), ("ce", "softmax"), ("bce", "sigmoid")} <= set(mg.PAIRS)
    for loss, spec in mg.LOSSES.items():
        assert (loss, spec.canonical) in mg.PAIRS


def test_jitted_code_never_touches_the_host():
    params, y, t = compare.make_problem(np.random.default_rng(8), "ce", (5, 4, 3), "float32")
    mg.output_layer_grads(params, y, t, loss="ce", activation="softmax")  # compile first
    with jax.transfer_guard("disallow"):
        grads = mg.output_layer_grads(params, y, t, loss="ce", activation="softmax")
    assert isinstance(grads.dw, jax.Array)


def test_output_grads_params_feeds_optax():
    params, y, t = compare.make_problem(np.random.default_rng(9), "ce", (8, 5, 3), "float32")
    kw = {"loss": "ce", "activation": "softmax"}
    opt = optax.sgd(0.5)
    state = opt.init(params)
    before = mg.loss(params, y, t, **kw)
    for _ in range(5):
        grads = mg.output_layer_grads(params, y, t, **kw)
        updates, state = opt.update(grads.params, state)
        params = optax.apply_updates(params, updates)
    assert isinstance(params, mg.Dense)
    assert mg.loss(params, y, t, **kw) < before


@pytest.mark.parametrize("activation", list(mg.ACTIVATIONS))
def test_forward_matches_jax_nn(activation):
    params, y, _ = compare.make_problem(np.random.default_rng(10), "mse", (6, 5, 4), "float64")
    got = mg.forward(params, y, activation=activation)
    compare.assert_grads_close(got, ag.forward(params, y, activation=activation))
    assert got.shape == (6, 4)
