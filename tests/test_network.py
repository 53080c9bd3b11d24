"""Backprop through hidden layers: manual_grad's networks against jax.grad and against float64
central differences, and proof that jax.grad of mg.mlp_loss runs the closed form."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import auto_grad as ag
import compare
import manual_grad as mg
from manual_grad import _backprop

HIDDEN = tuple(mg.ACTIVATIONS)


def _network(seed, loss, sizes=(5, 7, 6, 4), dtype="float64", batch=8):
    return compare.make_network(np.random.default_rng(seed), loss, sizes, batch, dtype)


def _everything(lib, hidden, loss, activation):
    """One jitted call: loss, forward, mlp_grads and jax.grad of mlp_loss in (layers, x, t),
    under both reductions."""

    def run(layers, x, t):
        out = {"forward": lib.mlp_forward(layers, x, hidden=hidden, activation=activation)}
        for r in ("mean", "sum"):
            kw = {"hidden": hidden, "loss": loss, "activation": activation, "reduction": r}
            out[r] = {
                "loss": lib.mlp_loss(layers, x, t, **kw),
                "mlp_grads": lib.mlp_grads(layers, x, t, **kw),
                "grad_of_loss": jax.grad(lib.mlp_loss, argnums=(0, 1, 2))(layers, x, t, **kw),
            }
        return out

    return jax.jit(run)


@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_three_layer_grads_match_jax_grad(hidden, loss, activation):
    layers, x, t = _network(0, loss)
    got = _everything(mg, hidden, loss, activation)(layers, x, t)
    want = _everything(ag, hidden, loss, activation)(layers, x, t)
    report = compare.assert_grads_close(got, want, batch_size=8)
    assert report.max_rel_err <= 1e-10, report
    assert {leaf.path.split("]")[0] + "]" for leaf in report.leaves} == {
        "['forward']",
        "['mean']",
        "['sum']",
    }


@pytest.mark.parametrize(("loss", "activation"), mg.PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_three_layer_closed_form_matches_central_differences(hidden, loss, activation):
    layers, x, t = _network(1, loss)
    for reduction in ("mean", "sum"):
        kw = {"hidden": hidden, "loss": loss, "activation": activation, "reduction": reduction}
        # mg.mlp_loss is a custom_vjp, so its reverse mode *is* mg's closed form.
        energy = functools.partial(mg.mlp_loss, t=t, **kw)
        check_grads(energy, (layers, x), order=1, modes=["rev"], eps=1e-6)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_depths_and_float32(depth):
    sizes = (6, *([5] * (depth - 1)), 3)
    layers, x, t = _network(2, "ce", sizes=sizes, dtype="float32")
    kw = {"hidden": "relu", "loss": "ce", "activation": "softmax"}
    grads, dx = mg.mlp_grads(layers, x, t, **kw)
    compare.assert_grads_close((grads, dx), ag.mlp_grads(layers, x, t, **kw))
    assert [g.w.shape for g in grads] == [lay.w.shape for lay in layers]
    assert dx.shape == x.shape and dx.dtype == jnp.float32


def test_one_layer_network_is_the_output_layer():
    layers, y, t = _network(3, "bce", sizes=(5, 4))
    kw = {"loss": "bce", "activation": "sigmoid"}
    (grad,), dy = mg.mlp_grads(layers, y, t, hidden="tanh", **kw)
    want = mg.output_layer_grads(layers[0], y, t, **kw)
    compare.assert_grads_close((grad.w, grad.b, dy), (want.dw, want.db, want.dy))


def test_jaxpr_holds_the_custom_vjp():
    layers, x, t = _network(4, "ce")
    kw = {"hidden": "tanh", "loss": "ce", "activation": "softmax"}
    assert "custom_vjp_call" in str(jax.make_jaxpr(lambda ls: mg.mlp_loss(ls, x, t, **kw))(layers))
    assert "custom_vjp_call" not in str(
        jax.make_jaxpr(lambda ls: ag.mlp_loss(ls, x, t, **kw))(layers)
    )
    params, y, t = compare.make_problem(np.random.default_rng(4), "ce", (6, 5, 4), "float64")
    jaxpr = jax.make_jaxpr(lambda p: mg.loss(p, y, t, loss="ce", activation="softmax"))(params)
    assert "custom_vjp_call" in str(jaxpr)


@pytest.fixture
def doubled_tanh_derivative(monkeypatch):
    """tanh's closed-form dy/du doubled, and every trace that used the true one dropped."""
    act = mg.ACTIVATIONS["tanh"]
    monkeypatch.setitem(
        mg.ACTIVATIONS, "tanh", act._replace(vjp=lambda u, y, g: 2 * g * (1 - y * y))
    )
    jax.clear_caches()
    _backprop.energy.cache_clear()
    yield
    jax.clear_caches()
    _backprop.energy.cache_clear()


def test_jax_grad_runs_the_closed_form_backward(doubled_tanh_derivative):
    layers, x, t = _network(5, "mse", sizes=(5, 6, 3))
    kw = {"hidden": "tanh", "loss": "mse", "activation": "identity"}
    got = jax.grad(mg.mlp_loss)(layers, x, t, **kw)
    want = jax.grad(ag.mlp_loss)(layers, x, t, **kw)
    report = compare.compare_grads(got, want)
    # Only the first layer sits below a tanh, so only its gradient moves; the loss does not.
    assert [leaf.ok for leaf in report.leaves] == [False, False, True, True]
    compare.assert_grads_close(mg.mlp_loss(layers, x, t, **kw), ag.mlp_loss(layers, x, t, **kw))


def test_jax_grad_of_single_layer_loss_is_output_layer_grads():
    params, y, t = compare.make_problem(np.random.default_rng(6), "ce", (6, 5, 4), "float64")
    kw = {"loss": "ce", "activation": "softmax"}
    dparams, dy, dt = jax.grad(mg.loss, argnums=(0, 1, 2))(params, y, t, **kw)
    want = mg.output_layer_grads(params, y, t, **kw)
    compare.assert_grads_close((dparams, dy), (want.params, want.dy))
    compare.assert_grads_close(dt, jax.grad(ag.loss, argnums=2)(params, y, t, **kw))


def test_second_order_reverse_mode_works_and_forward_mode_says_no():
    layers, x, t = _network(7, "ce", sizes=(4, 5, 3))
    kw = {"hidden": "tanh", "loss": "ce", "activation": "softmax"}
    v = jax.tree.map(jnp.ones_like, layers)

    def hvp(lib):
        def directional(ls):
            g = jax.grad(lib.mlp_loss)(ls, x, t, **kw)
            return sum(
                jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(v), strict=True)
            )

        return jax.grad(directional)(layers)

    compare.assert_grads_close(hvp(mg), hvp(ag))
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda ls: mg.mlp_loss(ls, x, t, **kw), (layers,), (v,))


@pytest.mark.parametrize("hidden", ["relu", "softplus", "tanh", "sigmoid"])
def test_init_mlp(hidden):
    layers = mg.init_mlp(jax.random.key(0), [400, 300, 10], hidden=hidden, dtype=jnp.float64)
    assert [lay.w.shape for lay in layers] == [(400, 300), (300, 10)]
    assert all(lay.w.dtype == jnp.float64 and not lay.b.any() for lay in layers)
    he = hidden in ("relu", "softplus")
    want_std = np.sqrt(2 / 400) if he else np.sqrt(2 / (400 + 300))
    # glorot/he "normal" are truncated normals scaled to this variance.
    np.testing.assert_allclose(np.std(np.asarray(layers[0].w)), want_std, rtol=0.03)
    np.testing.assert_allclose(np.std(np.asarray(layers[1].w)), np.sqrt(2 / 310), rtol=0.1)


def test_init_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"sizes must be two or more positive ints"):
        mg.init_mlp(jax.random.key(0), [5])
    with pytest.raises(ValueError, match=r"sizes must be two or more positive ints"):
        mg.init_mlp(jax.random.key(0), [5, 0, 2])
    with pytest.raises(ValueError, match="unknown hidden 'gelu'"):
        mg.init_mlp(jax.random.key(0), [5, 2], hidden="gelu")
