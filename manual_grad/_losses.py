"""Per-example losses E next to their closed-form derivatives dE/dy_k.

Each entry names its canonical activation, for which eq. (1) collapses to delta = y - t, and
lists every pair it has simplified by hand (`fused`): for those, delta, the loss and dE/dt
come straight from the logits u in a numerically stable form, with no 0 * inf where the
output saturates.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from manual_grad._activations import softplus


class Fused(NamedTuple):
    """A (loss, activation) pair worked out by hand, from the logits u.

    - `delta(out, t) -> delta`: eq. (1), with dE/dy * dy/du multiplied out.
    - `fn_logits(u, t) -> E`: the per-example loss `[B]`, in a stable form.
    - `grad_t_logits(u, t) -> dE/dt`: the target's gradient, which the notes never need but
      `jax.grad` with respect to t (distillation, say) does.
    """

    delta: Callable[[jax.Array, jax.Array], jax.Array]
    fn_logits: Callable[[jax.Array, jax.Array], jax.Array]
    grad_t_logits: Callable[[jax.Array, jax.Array], jax.Array]


class Loss(NamedTuple):
    """A loss, its closed-form derivatives, and the activations it is valid with.

    - `fn(out, t) -> E`: per-example loss, `[B, n], [B, n] -> [B]`.
    - `grad(out, t) -> dE/dy`: `[B, n]`, the first factor of eq. (1).
    - `grad_t(out, t) -> dE/dt`: `[B, n]`.
    - `canonical`: the activation whose eq. (1) product simplifies to y - t.
    - `fused`: hand-simplified pairs by activation (the canonical one among them); every
      other activation in `activations` goes through the general chain rule.
    - `activations`: the output activations this loss is defined for.
    """

    fn: Callable[[jax.Array, jax.Array], jax.Array]
    grad: Callable[[jax.Array, jax.Array], jax.Array]
    grad_t: Callable[[jax.Array, jax.Array], jax.Array]
    canonical: str
    fused: dict[str, Fused]
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


def _over(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den for a probability den: 0 where num is 0 (that term is absent from E), and NaN
    where den is below the smallest normal number, where a flushed subnormal would turn the
    later product with dy/du into a finite wrong number."""
    normal = den >= jnp.finfo(den.dtype).tiny
    ratio = num / jnp.where(normal, den, 1)
    return jnp.where(num == 0, 0, jnp.where(normal, ratio, jnp.nan))


def _ce_grad(out: jax.Array, t: jax.Array) -> jax.Array:
    """dE/dy_k = -t_k / y_k."""
    return -_over(t, out)


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
    """dE/dy_k = -t_k / y_k + (1 - t_k) / (1 - y_k) (= (y_k - t_k) / (y_k (1 - y_k)))."""
    return _over(1 - t, 1 - out) - _over(t, out)


def _bce_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    # -t log s(u) - (1 - t) log(1 - s(u)) = softplus(u) - t u: no log of a rounded 0 or 1.
    return jnp.sum(softplus(u) - t * u, axis=-1)


def _ce_sigmoid_delta(out: jax.Array, t: jax.Array) -> jax.Array:
    """ce+sigmoid: delta_k = (-t_k / y_k) * y_k (1 - y_k) = -t_k (1 - y_k). Multiplied out,
    because the product of the two factors rounds to 0 * inf (or worse, to 0 where y_k is
    subnormal and flushed) once sigmoid(u_k) underflows."""
    return -t * (1 - out)


def _ce_sigmoid_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    # -log sigmoid(u) = softplus(-u).
    return jnp.sum(t * softplus(-u), axis=-1)


def _ce_sigmoid_grad_t_logits(u: jax.Array, t: jax.Array) -> jax.Array:
    return softplus(-u)


LOSSES: dict[str, Loss] = {
    "mse": Loss(
        fn=_mse,
        grad=_out_minus_t,
        grad_t=_t_minus_out,
        canonical="identity",
        fused={"identity": Fused(_out_minus_t, _mse, _t_minus_out)},
        activations=("identity", "sigmoid", "tanh", "softmax", "relu", "softplus"),
    ),
    # log y needs y > 0 and the loss is bounded below only for y <= 1: softmax or sigmoid.
    "ce": Loss(
        fn=_ce,
        grad=_ce_grad,
        grad_t=_ce_grad_t,
        canonical="softmax",
        fused={
            "softmax": Fused(_ce_fused_delta, _ce_logits, _ce_grad_t_logits),
            "sigmoid": Fused(_ce_sigmoid_delta, _ce_sigmoid_logits, _ce_sigmoid_grad_t_logits),
        },
        activations=("softmax", "sigmoid"),
    ),
    # log y and log(1 - y) both need 0 < y < 1.
    "bce": Loss(
        fn=_bce,
        grad=_bce_grad,
        grad_t=_bce_grad_t,
        canonical="sigmoid",
        fused={"sigmoid": Fused(_out_minus_t, _bce_logits, _bce_grad_t_logits)},
        activations=("sigmoid", "softmax"),
    ),
}
