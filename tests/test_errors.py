"""Bad calls fail with a ValueError/TypeError that names the argument, in both libraries,
eagerly and inside a user's jax.jit, never with an XLA error or a silently wrong answer."""

import re

import jax
import jax.numpy as jnp
import pytest

import auto_grad as ag
import manual_grad as mg

LIBS = {"manual_grad": mg, "auto_grad": ag}


def _args(B=4, m=3, n=2, dtype=jnp.float32):
    return (
        mg.Dense(jnp.ones((m, n), dtype), jnp.zeros(n, dtype)),
        jnp.ones((B, m), dtype),
        (jnp.full((B, n), 1 / n, dtype)),
    )


def _call(lib, mode, fn_name, *args, **kw):
    fn = getattr(lib, fn_name)
    if mode == "jit":
        return jax.jit(lambda *a: fn(*a, **kw))(*args)
    return fn(*args, **kw)


GOOD = {"loss": "ce", "activation": "softmax"}
P, Y, T = _args()

CASES = [
    # (id, function, args, kwargs, exception, message regex)
    (
        "unknown loss",
        "output_layer_grads",
        (P, Y, T),
        {"loss": "hinge", "activation": "softmax"},
        ValueError,
        "unknown loss 'hinge'; expected one of ['bce', 'ce', 'mse']",
    ),
    (
        "unknown activation",
        "loss",
        (P, Y, T),
        {"loss": "mse", "activation": "gelu"},
        ValueError,
        "unknown activation 'gelu'; expected one of ['identity', 'relu', 'sigmoid', "
        "'softmax', 'softplus', 'tanh']",
    ),
    (
        "unknown reduction",
        "output_layer_grads",
        (P, Y, T),
        {**GOOD, "reduction": "avg"},
        ValueError,
        "unknown reduction 'avg'; expected one of ['mean', 'sum']",
    ),
    (
        "invalid pair",
        "output_layer_grads",
        (P, Y, T),
        {"loss": "ce", "activation": "identity"},
        ValueError,
        "invalid pair loss='ce' with activation='identity'; 'ce' takes activation in "
        "['softmax', 'sigmoid']. Valid (loss, activation) pairs: [('mse', 'identity')",
    ),
    (
        "unhashable option",
        "delta",
        (Y, Y),
        {"loss": ["ce"], "activation": "softmax"},
        ValueError,
        "unknown loss ['ce']",
    ),
    (
        "w vs y",
        "output_layer_grads",
        (mg.Dense(jnp.ones((5, 2)), jnp.zeros(2)), Y, T),
        GOOD,
        ValueError,
        "w must have shape (m, n) = (3, 2) from y (4, 3) and t (4, 2); got (5, 2)",
    ),
    (
        "w vs t",
        "loss",
        (mg.Dense(jnp.ones((3, 5)), jnp.zeros(2)), Y, T),
        GOOD,
        ValueError,
        "w must have shape (m, n) = (3, 2) from y (4, 3) and t (4, 2); got (3, 5)",
    ),
    (
        "b vs n",
        "output_layer_grads",
        (mg.Dense(P.w, jnp.zeros(3)), Y, T),
        GOOD,
        ValueError,
        "b must have shape (n,) = (2,) from t (4, 2); got (3,)",
    ),
    (
        "batch",
        "output_layer_grads",
        (P, Y, T[:3]),
        GOOD,
        ValueError,
        "t must have shape (B, n) with B = 4 from y (4, 3); got (3, 2)",
    ),
    (
        "y rank",
        "output_layer_grads",
        (P, Y[0], T),
        GOOD,
        ValueError,
        "y must have shape (B, m); got (3,)",
    ),
    (
        "empty batch",
        "output_layer_grads",
        (P, Y[:0], T[:0]),
        GOOD,
        ValueError,
        "y must have no empty axis",
    ),
    (
        "integer t",
        "output_layer_grads",
        (P, Y, jnp.ones((4, 2), jnp.int32)),
        GOOD,
        TypeError,
        "t must be a floating-point array (float16/bfloat16/float32/float64); got dtype int32",
    ),
    ("bool y", "loss", (P, Y > 0, T), GOOD, TypeError, "y must be a floating-point array"),
    (
        "mixed dtypes",
        "output_layer_grads",
        (P, Y, T.astype(jnp.float64)),
        GOOD,
        TypeError,
        "w, b, y, t must share one float dtype; got w float32, b float32, y float32, t float64",
    ),
    (
        "params type",
        "output_layer_grads",
        ((P.w, P.b), Y, T),
        GOOD,
        TypeError,
        "params must be a Dense(w, b)",
    ),
    (
        "bce softmax n=1",
        "output_layer_grads",
        _args(n=1),
        {"loss": "bce", "activation": "softmax"},
        ValueError,
        "needs n >= 2 outputs; got n = 1",
    ),
    (
        "delta t shape",
        "delta",
        (T, T[:, :1]),
        GOOD,
        ValueError,
        "t must have shape (B, n) = (4, 2) from u; got (4, 1)",
    ),
    (
        "forward w vs y",
        "forward",
        (mg.Dense(jnp.ones((5, 2)), jnp.zeros(2)), Y),
        {"activation": "tanh"},
        ValueError,
        "w must have shape (m, n) with m = 3 from y (4, 3); got (5, 2)",
    ),
    (
        "forward unknown activation",
        "forward",
        (P, Y),
        {"activation": "swish"},
        ValueError,
        "unknown activation 'swish'",
    ),
]


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("lib", LIBS.values(), ids=LIBS.keys())
@pytest.mark.parametrize(
    ("fn", "args", "kw", "exc", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_is_rejected_clearly(lib, mode, fn, args, kw, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        _call(lib, mode, fn, *args, **kw)


@pytest.mark.parametrize("lib", LIBS.values(), ids=LIBS.keys())
def test_python_and_numpy_inputs_are_accepted(lib):
    params = mg.Dense([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    grads = lib.output_layer_grads(
        params, [[1.0, 2.0]], [[0.0, 1.0]], loss="mse", activation="identity"
    )
    assert grads.dw.shape == (2, 2)


NET = [
    mg.Dense(jnp.ones((3, 5), jnp.float32), jnp.zeros(5, jnp.float32)),
    mg.Dense(jnp.ones((5, 2), jnp.float32), jnp.zeros(2, jnp.float32)),
]
NET_KW = {"hidden": "tanh", "loss": "ce", "activation": "softmax"}

NET_CASES = [
    (
        "layer chain",
        ([*NET[:1], mg.Dense(jnp.ones((4, 2)), jnp.zeros(2))], Y, T),
        NET_KW,
        ValueError,
        "layers[1].w must have shape (fan_in, fan_out) with fan_in = 5 from "
        "layers[0].w (3, 5); got (4, 2)",
    ),
    (
        "first layer vs x",
        ([mg.Dense(jnp.ones((4, 5)), jnp.zeros(5)), NET[1]], Y, T),
        NET_KW,
        ValueError,
        "layers[0].w must have shape (fan_in, fan_out) with fan_in = 3 from x (4, 3)",
    ),
    (
        "bias",
        ([NET[0], mg.Dense(NET[1].w, jnp.zeros(3))], Y, T),
        NET_KW,
        ValueError,
        "layers[1].b must have shape (fan_out,) = (2,) from layers[1].w (5, 2); got (3,)",
    ),
    (
        "t vs last layer",
        (NET, Y, jnp.ones((4, 3))),
        NET_KW,
        ValueError,
        "t must have shape (B, n) = (4, 2) from x (4, 3) and the last layer layers[1].w (5, 2)",
    ),
    (
        "a Dense, not a list",
        (NET[0], Y, T),
        NET_KW,
        TypeError,
        "layers must be a non-empty list of Dense(w, b); got Dense (wrap a single layer as "
        "[params])",
    ),
    ("empty list", ([], Y, T), NET_KW, TypeError, "layers must be a non-empty list"),
    (
        "unknown hidden",
        (NET, Y, T),
        {**NET_KW, "hidden": "gelu"},
        ValueError,
        "unknown hidden 'gelu'",
    ),
    (
        "mixed dtypes",
        ([NET[0], jax.tree.map(lambda a: a.astype(jnp.float64), NET[1])], Y, T),
        NET_KW,
        TypeError,
        "layers, x and t must share one float dtype (layers[0].w is float32); "
        "got layers[1].w float64, layers[1].b float64",
    ),
    (
        "integer x",
        (NET, jnp.ones((4, 3), jnp.int32), T),
        NET_KW,
        TypeError,
        "x must be a floating-point array",
    ),
]
NET_FUNCTIONS = ["mlp_loss", "mlp_grads", "per_example_grads", "per_example_grad_norms"]


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("fn", NET_FUNCTIONS)
@pytest.mark.parametrize("lib", LIBS.values(), ids=LIBS.keys())
@pytest.mark.parametrize(
    ("args", "kw", "exc", "message"), [c[1:] for c in NET_CASES], ids=[c[0] for c in NET_CASES]
)
def test_bad_network_call_is_rejected_clearly(lib, fn, mode, args, kw, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        _call(lib, mode, fn, *args, **kw)


@pytest.mark.parametrize("lib", LIBS.values(), ids=LIBS.keys())
def test_bad_clipped_call_is_rejected_clearly(lib):
    with pytest.raises(ValueError, match=re.escape("layers[1].w must have shape")):
        lib.clipped_grads(
            [*NET[:1], mg.Dense(jnp.ones((4, 2)), jnp.zeros(2))], Y, T, clip_norm=1.0, **NET_KW
        )
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        lib.clipped_grads(NET, Y, T, clip_norm=1.0, reduction="avg", **NET_KW)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_bad_fused_call_is_rejected_clearly_under_jit_too(mode):
    labels = jnp.zeros(4, jnp.int32)
    with pytest.raises(
        ValueError, match=re.escape("labels must have shape (B,) = (4,) from y (4, 3); got (4, 1)")
    ):
        _call(mg, mode, "fused_linear_cross_entropy", P, Y, labels[:, None])
    with pytest.raises(TypeError, match=re.escape("w, y must share one float dtype")):
        _call(
            mg,
            mode,
            "fused_linear_cross_entropy",
            mg.Dense(P.w, None),
            Y.astype(jnp.float64),
            labels,
        )
