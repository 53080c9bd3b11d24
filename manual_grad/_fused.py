"""A fused, chunked linear + softmax cross-entropy: the output layer of a large-vocabulary
model without ever holding its `[B, V]` logits.

The batch is cut into chunks of `chunk_size` rows. For each chunk the logits u = y @ w + b
exist only as a `[chunk, V]` temporary, the loss uses a stable log-sum-exp, and the closed
form of ce+softmax, delta = softmax(u) - onehot(label) (eq. 1), feeds eqs. (2)-(4) right
away: dw += y.T @ delta, db += delta.sum(0), dy = delta @ w.T. Peak temporary memory is
O(chunk x V) plus the `[m, V]` gradient itself, never O(B x V).
"""

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from backprop_ref import Dense, check_fused_args, check_reduction, compute_in_float32
from manual_grad._backprop import per_batch


def _chunks(y: jax.Array, labels: jax.Array, chunk: int) -> tuple[jax.Array, ...]:
    """y `[B, m]` and labels `[B]` as `[S, chunk, ...]`, zero-padded, with a row weight that is
    0 on the padding."""
    B = y.shape[0]
    pad = -B % chunk
    y = jnp.pad(y, ((0, pad), (0, 0))).reshape(-1, chunk, y.shape[1])
    weight = jnp.pad(jnp.ones(B, y.dtype), (0, pad)).reshape(-1, chunk)
    labels = jnp.pad(labels, (0, pad)).reshape(-1, chunk)
    return y, labels, weight


def _chunk_terms(w, b, y_c, labels_c):
    """Logits of one chunk, their log-sum-exp, the per-row loss, and which labels are valid."""
    u = y_c @ w + b
    top = jax.lax.stop_gradient(u.max(axis=1, keepdims=True))
    lse = jnp.log(jnp.sum(jnp.exp(u - top), axis=1, keepdims=True)) + top
    valid = (labels_c >= 0) & (labels_c < w.shape[1])
    picked = jnp.take_along_axis(u, jnp.clip(labels_c, 0, w.shape[1] - 1)[:, None], axis=1)
    # A label outside [0, V) has no logit: its loss (and gradient) is NaN, never a quiet wrong
    # number.
    loss = jnp.where(valid, (lse - picked)[:, 0], jnp.nan)
    return u, lse, loss, valid


@functools.cache
def _fused(chunk: int, reduction: str):
    def value(w, b, y, labels):
        ys, ls, ws = _chunks(y, labels, chunk)

        def body(total, xs):
            y_c, l_c, w_c = xs
            _, _, loss, _ = _chunk_terms(w, b, y_c, l_c)
            return total + jnp.sum(per_batch(w_c, y.shape[0], reduction) * loss), None

        total, _ = jax.lax.scan(body, jnp.zeros((), y.dtype), (ys, ls, ws))
        return total

    @jax.custom_vjp
    def fused(w, b, y, labels):
        return value(w, b, y, labels)

    def fwd(w, b, y, labels):
        ys, ls, ws = _chunks(y, labels, chunk)

        def body(carry, xs):
            total, dw, db = carry
            y_c, l_c, w_c = xs
            u, lse, loss, valid = _chunk_terms(w, b, y_c, l_c)
            scale = per_batch(w_c, y.shape[0], reduction)
            onehot = jnp.arange(w.shape[1]) == l_c[:, None]
            # Eq. (1) for ce+softmax, in closed form: delta = softmax(u) - onehot(label).
            delta = (jnp.exp(u - lse) - onehot) * scale[:, None]
            delta = jnp.where(valid[:, None], delta, jnp.nan)
            carry = (total + jnp.sum(scale * loss), dw + y_c.T @ delta, db + delta.sum(axis=0))
            return carry, delta @ w.T

        zeros = (jnp.zeros((), y.dtype), jnp.zeros_like(w), jnp.zeros_like(b))
        (total, dw, db), dys = jax.lax.scan(body, zeros, (ys, ls, ws))
        dy = dys.reshape(-1, y.shape[1])[: y.shape[0]]
        return total, (dw, db, dy)

    def bwd(res, g):
        dw, db, dy = res
        return g * dw, g * db, g * dy, None

    fused.defvjp(fwd, bwd)
    return fused


@functools.partial(jax.jit, static_argnames=("chunk_size", "reduction"))
@compute_in_float32
def _fused_linear_cross_entropy(params, y, labels, *, chunk_size, reduction):
    w, b, y, labels = check_fused_args(params, y, labels)
    bias = jnp.zeros(w.shape[1], w.dtype) if b is None else b
    return _fused(min(chunk_size, y.shape[0]), reduction)(w, bias, y, labels)


def fused_linear_cross_entropy(
    params: Dense,
    y: ArrayLike,
    labels: ArrayLike,
    *,
    chunk_size: int = 256,
    reduction: str = "mean",
) -> jax.Array:
    """Softmax cross-entropy of the logits y @ w + b against integer labels, computed chunk
    by chunk so that the `[B, V]` logits never exist.

    A `jax.custom_vjp`: `jax.grad` of it returns the closed-form gradients (delta =
    softmax(u) - onehot, then eqs. (2)-(4)), which its forward pass computes chunk by chunk
    while the chunk's logits are at hand, so the backward pass only scales them. Equals
    `optax.softmax_cross_entropy_with_integer_labels(y @ w + b, labels).mean()` (`.sum()`
    for `reduction="sum"`).

    **Arguments:**

    - `params`: `Dense(w [m, V], b [V])`; `b` may be `None` for no bias.
    - `y`: the layer's input, `[B, m]`, floating point.
    - `labels`: class indices, `[B]`, integer. A label outside [0, V) makes the loss and
      its gradients NaN (their values cannot be checked without syncing with the host).
    - `chunk_size`: rows per chunk (static); peak temporary memory grows as chunk x V.
    - `reduction`: `"mean"` or `"sum"` over the batch (static).

    **Returns:** the scalar loss.
    """
    check_reduction(reduction)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}")
    return _fused_linear_cross_entropy(
        params, y, labels, chunk_size=chunk_size, reduction=reduction
    )
