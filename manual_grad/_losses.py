"""Per-example losses E next to their closed-form derivatives dE/dy_k.

Each entry also names its canonical activation: for that pair eq. (1) collapses to the fused
delta = y - t, and the loss is computed from the logits u in a numerically stable form.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from manual_grad._activations import softplus


class Loss(NamedTuple):
    """A loss, its closed-form derivative, and the activations it is valid with.

    - `fn(out, t) -> E`: per-example loss, `[B, n], [B, n] -> [B]`.
    - `grad(out, t) -> dE/dy`: `[B, n]`, the first factor of eq. (1).
    - `canonical`: the activation whose eq. (1) product simplifies to y - t.
    - `fn_logits(u, t) -> E`: the same loss for the canonical pair, from the logits u.
    - `fused_delta(out, t) -> delta`: eq. (1) for the canonical pair, simplified by hand.
    - `grad_t(out, t) -> dE/dt` and `grad_t_logits(u, t)`, the same for the canonical pair
      from the logits: the target's gradient, which the notes never need but `jax.grad`
      with respect to t (distillation, say) does.
    - `activations`: the output activations this loss is defined for.
    """

    fn: Callable[[jax.Array, jax.Array], jax.Array]
    grad: Callable[[jax.Array, jax.Array], jax.Array]
    canonical: str
    fn_logits: Callable[[jax.Array, jax.Array], jax.Array]
    fused_delta: Callable[[jax.Array, jax.Array], jax.Array]
    grad_t: Callable[[jax.Array, jax.Array], jax.Array]
    grad_t_logits: Callable[[jax.Array, jax.Array], jax.Array]
    activations: tuple[str, ...]


def _mse(out: jax.Array, t: jax.Array) -> jax.Array:
    """E = 1/2 sum_k (y_k - t_k)^2; the notes' 1/2 makes dE/dy = y - t."""
    return 0.5 * jnp.sum((out - t) ** 2, axis=-1)


def _out_minus_t(out: jax.Array, t: jax.Array) -> jax.Array:
    """y - t: mse's dE/dy, and the whole of eq. (1) for mse+identity and bce+sigmoid (for bce,
    dE/dy = (y - t) / (y (1 - y)) and sigmoid's dy/du = y (1 - y) cancel)."""
    return out - t


def _t_minus_out(out: jax.Array, t: jax.Array) -> jax.Array:
    """mse's dE/dt = t - y."""
    return t - out


def _ce_grad_t(out: jax.Array, t: jax.Array) -> jax.Array:
    """ce's dE/dt_k = -log y_k."""
    return -jnp.log(out)


def _ce_grad_t_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    return -_log_softmax(u)


def _bce_grad_t(out: jax.Array, t: jax.Array) -> jax.Array:
    """bce's dE/dt_k = log(1 - y_k) - log y_k."""
    return jnp.log1p(-out) - jnp.log(out)


def _bce_grad_t_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    # log(1 - sigmoid(u)) - log sigmoid(u) = -u exactly.
    return -u


def _ce_fused_delta(out: jax.Array, t: jax.Array) -> jax.Array:
    """softmax + ce: delta_k = y_k sum_r t_r - t_k, i.e. y - t when each row of t sums to 1.

    Keeping the sum makes the closed form exact for any t (unnormalized or smoothed labels)
    at the cost of one row reduction.
    """
    return out * jnp.sum(t, axis=-1, keepdims=True) - t


def _ce(out: jax.Array, t: jax.Array) -> jax.Array:
    """E = -sum_k t_k log y_k."""
    return -jnp.sum(t * jnp.log(out), axis=-1)


def _ce_grad(out: jax.Array, t: jax.Array) -> jax.Array:
    return -t / out


def _log_softmax(u: jax.Array) -> jax.Array:
    # u - logsumexp(u), shifted by the row max: never log(0) nor an overflowing exp.
    shifted = u - u.max(axis=-1, keepdims=True)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def _ce_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    return -jnp.sum(t * _log_softmax(u), axis=-1)


def _bce(out: jax.Array, t: jax.Array) -> jax.Array:
    """E = -sum_k [t_k log y_k + (1 - t_k) log(1 - y_k)]."""
    return -jnp.sum(t * jnp.log(out) + (1 - t) * jnp.log1p(-out), axis=-1)


def _bce_grad(out: jax.Array, t: jax.Array) -> jax.Array:
    return (out - t) / (out * (1 - out))


def _bce_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    # -t log s(u) - (1 - t) log(1 - s(u)) = softplus(u) - t u: no log of a rounded 0 or 1.
    return jnp.sum(softplus(u) - t * u, axis=-1)


LOSSES: dict[str, Loss] = {
    "mse": Loss(
        fn=_mse,
        grad=_out_minus_t,
        canonical="identity",
        fn_logits=_mse,
        fused_delta=_out_minus_t,
        grad_t=_t_minus_out,
        grad_t_logits=_t_minus_out,
        activations=("identity", "sigmoid", "tanh", "softmax", "relu", "softplus"),
    ),
    # log y needs y > 0 and the loss is bounded below only for y <= 1: softmax or sigmoid.
    "ce": Loss(
        fn=_ce,
        grad=_ce_grad,
        canonical="softmax",
        fn_logits=_ce_logits,
        fused_delta=_ce_fused_delta,
        grad_t=_ce_grad_t,
        grad_t_logits=_ce_grad_t_logits,
        activations=("softmax", "sigmoid"),
    ),
    # log y and log(1 - y) both need 0 < y < 1.
    "bce": Loss(
        fn=_bce,
        grad=_bce_grad,
        canonical="sigmoid",
        fn_logits=_bce_logits,
        fused_delta=_out_minus_t,
        grad_t=_bce_grad_t,
        grad_t_logits=_bce_grad_t_logits,
        activations=("sigmoid", "softmax"),
    ),
}
