"""Argument checks shared by manual_grad and auto_grad.

Every check reads only static facts (names, shapes, dtypes), so it runs the same eagerly and
while `jax.jit` traces, and a bad call fails here with a message naming the argument instead
of deep inside XLA.
"""

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from backprop_ref._types import Dense

REDUCTIONS = ("mean", "sum")


def check_choice(arg: str, value: object, choices: Iterable[str]) -> None:
    """Raise `ValueError` unless `value` is one of `choices` (a static string option)."""
    choices = sorted(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {arg} {value!r}; expected one of {choices}")


def check_reduction(reduction: object) -> None:
    """Raise `ValueError` unless `reduction` is 'mean' or 'sum'."""
    check_choice("reduction", reduction, REDUCTIONS)


def check_pair(loss: object, activation: object, pairs: Iterable[tuple[str, str]]) -> None:
    """Raise `ValueError` unless (loss, activation) is one of `pairs`, listing the valid ones."""
    pairs = tuple(pairs)
    check_choice("loss", loss, {p[0] for p in pairs})
    check_choice("activation", activation, {p[1] for p in pairs})
    if (loss, activation) not in pairs:
        valid = [a for lo, a in pairs if lo == loss]
        raise ValueError(
            f"invalid pair loss={loss!r} with activation={activation!r}; {loss!r} takes "
            f"activation in {valid}. Valid (loss, activation) pairs: {list(pairs)}"
        )


def check_output_width(loss: str, activation: str, n: int) -> None:
    """Raise `ValueError` for a pair that is undefined at this output width n.

    A softmax over a single output is identically 1, where bce's log(1 - y) is -inf.
    """
    if loss == "bce" and activation == "softmax" and n < 2:
        raise ValueError(
            f"loss='bce' with activation='softmax' needs n >= 2 outputs; got n = {n}, where "
            "softmax is identically 1 and log(1 - y) = -inf. Use activation='sigmoid'"
        )


def _as_float_array(name: str, x: ArrayLike) -> jax.Array:
    """`x` as a floating-point array; `TypeError` for anything else (ints, bools, objects)."""
    try:
        arr = jnp.asarray(x)
    except TypeError as e:
        raise TypeError(f"{name} must be a floating-point array; got {type(x).__name__}") from e
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float16/bfloat16/float32/float64); "
            f"got dtype {arr.dtype}. Cast it, e.g. {name}.astype(jnp.float32)"
        )
    return arr


def _check_ndim(name: str, arr: jax.Array, symbols: str) -> None:
    ndim = len(symbols.split(","))
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape ({symbols}); got {tuple(arr.shape)}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must have no empty axis, shape ({symbols}); got {arr.shape}")


def _check_same_dtype(arrays: dict[str, jax.Array], what: str | None = None) -> None:
    """One float dtype for all: mixing would silently promote the gradients (float32 params
    getting float64 grads) or lose precision, so a mix is rejected rather than guessed at.

    `what` names a large group (a network's arrays); then only the odd ones out are listed.
    """
    first = next(iter(arrays.values())).dtype
    if all(a.dtype == first for a in arrays.values()):
        return
    if what is None:
        got = ", ".join(f"{k} {v.dtype}" for k, v in arrays.items())
        raise TypeError(f"{', '.join(arrays)} must share one float dtype; got {got}")
    odd = ", ".join(f"{k} {v.dtype}" for k, v in arrays.items() if v.dtype != first)
    first_name = next(iter(arrays))
    raise TypeError(f"{what} must share one float dtype ({first_name} is {first}); got {odd}")


def _unpack_params(params: object, name: str = "params") -> tuple[ArrayLike, ArrayLike]:
    if not (hasattr(params, "w") and hasattr(params, "b")):
        raise TypeError(
            f"{name} must be a Dense(w, b) with w [m, n] and b [n]; got {type(params).__name__}"
        )
    return params.w, params.b


def check_forward_args(params: Dense, y: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Check a layer's `params` and its input `y` [B, m]; return `(w, b, y)` as arrays."""
    w, b = _unpack_params(params)
    w, b, y = (_as_float_array(k, v) for k, v in (("w", w), ("b", b), ("y", y)))
    _check_ndim("y", y, "B, m")
    _check_ndim("w", w, "m, n")
    _check_ndim("b", b, "n")
    m = y.shape[1]
    if w.shape[0] != m:
        raise ValueError(
            f"w must have shape (m, n) with m = {m} from y {tuple(y.shape)}; got {tuple(w.shape)}"
        )
    n = w.shape[1]
    if b.shape != (n,):
        raise ValueError(
            f"b must have shape (n,) = ({n},) from w {tuple(w.shape)}; got {tuple(b.shape)}"
        )
    _check_same_dtype({"w": w, "b": b, "y": y})
    return w, b, y


def check_output_layer_args(
    params: Dense, y: ArrayLike, t: ArrayLike, *, loss: str, activation: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Check `params`, input `y` [B, m] and target `t` [B, n] for a valid (loss, activation);
    return `(w, b, y, t)` as arrays."""
    w, b = _unpack_params(params)
    w, b, y, t = (_as_float_array(k, v) for k, v in (("w", w), ("b", b), ("y", y), ("t", t)))
    _check_ndim("y", y, "B, m")
    _check_ndim("t", t, "B, n")
    _check_ndim("w", w, "m, n")
    _check_ndim("b", b, "n")
    (B, m), n = y.shape, t.shape[1]
    if t.shape[0] != B:
        raise ValueError(
            f"t must have shape (B, n) with B = {B} from y {tuple(y.shape)}; "
            f"got {tuple(t.shape)} (batch sizes differ)"
        )
    if w.shape != (m, n):
        raise ValueError(
            f"w must have shape (m, n) = ({m}, {n}) from y {tuple(y.shape)} and "
            f"t {tuple(t.shape)}; got {tuple(w.shape)}"
        )
    if b.shape != (n,):
        raise ValueError(
            f"b must have shape (n,) = ({n},) from t {tuple(t.shape)}; got {tuple(b.shape)}"
        )
    _check_same_dtype({"w": w, "b": b, "y": y, "t": t})
    check_output_width(loss, activation, n)
    return w, b, y, t


def check_delta_args(
    u: ArrayLike, t: ArrayLike, *, loss: str, activation: str
) -> tuple[jax.Array, jax.Array]:
    """Check pre-activations `u` [B, n] and target `t` [B, n] for a valid (loss, activation);
    return them as arrays."""
    u, t = _as_float_array("u", u), _as_float_array("t", t)
    _check_ndim("u", u, "B, n")
    _check_ndim("t", t, "B, n")
    if t.shape != u.shape:
        raise ValueError(
            f"t must have shape (B, n) = {tuple(u.shape)} from u; got {tuple(t.shape)}"
        )
    _check_same_dtype({"u": u, "t": t})
    check_output_width(loss, activation, u.shape[1])
    return u, t


def check_network_args(
    layers: object,
    x: ArrayLike,
    t: ArrayLike | None = None,
    *,
    loss: str = "",
    activation: str = "",
) -> tuple[list[Dense], jax.Array, jax.Array | None]:
    """Check a network (a non-empty sequence of `Dense`), its input `x` [B, l] and, if
    given, the target `t` [B, n] for (loss, activation); return them as arrays.

    Each layer's w must take the previous layer's width: layers[i].w is
    [fan_in, fan_out] with fan_in = x's width for i = 0, else layers[i-1].w's fan_out.
    """
    if isinstance(layers, Dense):
        raise TypeError(
            "layers must be a non-empty list of Dense(w, b); got Dense (wrap a single layer as "
            "[params])"
        )
    if not isinstance(layers, (list, tuple)) or not layers:
        got = type(layers).__name__ if not isinstance(layers, (list, tuple)) else "an empty list"
        raise TypeError(f"layers must be a non-empty list of Dense(w, b); got {got}")
    x = _as_float_array("x", x)
    _check_ndim("x", x, "B, l")
    checked, width, source = [], x.shape[1], f"x {tuple(x.shape)}"
    for i, layer in enumerate(layers):
        w, b = _unpack_params(layer, f"layers[{i}]")
        w, b = _as_float_array(f"layers[{i}].w", w), _as_float_array(f"layers[{i}].b", b)
        _check_ndim(f"layers[{i}].w", w, "fan_in, fan_out")
        if w.shape[0] != width:
            raise ValueError(
                f"layers[{i}].w must have shape (fan_in, fan_out) with fan_in = {width} from "
                f"{source}; got {tuple(w.shape)}"
            )
        if b.shape != (w.shape[1],):
            raise ValueError(
                f"layers[{i}].b must have shape (fan_out,) = ({w.shape[1]},) from "
                f"layers[{i}].w {tuple(w.shape)}; got {tuple(b.shape)}"
            )
        checked.append(Dense(w, b))
        width, source = w.shape[1], f"layers[{i}].w {tuple(w.shape)}"
    arrays = {f"layers[{i}].{k}": v for i, d in enumerate(checked) for k, v in d._asdict().items()}
    arrays["x"] = x
    if t is not None:
        t = _as_float_array("t", t)
        _check_ndim("t", t, "B, n")
        if t.shape != (x.shape[0], width):
            raise ValueError(
                f"t must have shape (B, n) = ({x.shape[0]}, {width}) from x {tuple(x.shape)} "
                f"and the last layer {source}; got {tuple(t.shape)}"
            )
        arrays["t"] = t
        check_output_width(loss, activation, width)
    _check_same_dtype(arrays, what="layers, x and t" if t is not None else "layers and x")
    return checked, x, t


def check_fused_args(
    params: object, y: ArrayLike, labels: ArrayLike
) -> tuple[jax.Array, jax.Array | None, jax.Array, jax.Array]:
    """Check `params` (w [m, V], b [V] or None), input `y` [B, m] and integer `labels` [B]."""
    w, b = _unpack_params(params)
    w, y = _as_float_array("w", w), _as_float_array("y", y)
    _check_ndim("y", y, "B, m")
    _check_ndim("w", w, "m, V")
    B, m = y.shape
    if w.shape[0] != m:
        raise ValueError(
            f"w must have shape (m, V) with m = {m} from y {tuple(y.shape)}; got {tuple(w.shape)}"
        )
    arrays = {"w": w, "y": y}
    if b is not None:
        b = _as_float_array("b", b)
        if b.shape != (w.shape[1],):
            raise ValueError(
                f"b must have shape (V,) = ({w.shape[1]},) from w {tuple(w.shape)}; "
                f"got {tuple(b.shape)}"
            )
        arrays["b"] = b
    _check_same_dtype(arrays)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"labels must be an integer array of class indices; got dtype {labels.dtype}"
            + (" (one-hot targets? pass labels.argmax(-1))" if labels.ndim == 2 else "")
        )
    if labels.shape != (B,):
        raise ValueError(
            f"labels must have shape (B,) = ({B},) from y {tuple(y.shape)}; "
            f"got {tuple(labels.shape)}"
        )
    return w, b, y, labels


def options_check(
    pairs: Iterable[tuple[str, str]], activations: Iterable[str]
) -> Callable[..., None]:
    """The `check` a library hands to `jit_static`: it validates whichever static options a
    function takes (`hidden`, `loss` with `activation`, `activation` alone, `reduction`)
    against that library's own registries."""
    pairs, activations = tuple(pairs), tuple(activations)

    def check(**options: object) -> None:
        if "hidden" in options:
            check_choice("hidden", options["hidden"], activations)
        if "loss" in options:
            check_pair(options["loss"], options["activation"], pairs)
        elif "activation" in options:
            check_choice("activation", options["activation"], activations)
        if "reduction" in options:
            check_reduction(options["reduction"])

    return check
