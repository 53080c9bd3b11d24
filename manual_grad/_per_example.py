"""Per-example gradients, their norms, and the DP-SGD clipped sum, from one backward pass.

For one example b, eq. (2) makes a layer's weight gradient the outer product y_b delta_b^T,
so ||dW_b|| = ||y_b|| ||delta_b|| and ||db_b|| = ||delta_b||. The whole network's
per-example gradient norm is sqrt(sum over layers of (||y_b||^2 + 1) ||delta_b||^2): no
`[B, m, n]` tensor is ever needed, only the deltas that ordinary backprop computes anyway.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from backprop_ref import Dense, check_network_args, jit_static
from manual_grad._backprop import backprop_deltas, forward_trace, output_delta, per_batch
from manual_grad._output_layer import _check


def _per_example_deltas(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    hidden: str,
    loss: str,
    activation: str,
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Each layer's input `[B, fan_in]` and delta `[B, fan_out]` for E_b, the example's own
    loss (reduction "sum": row b of a delta is that example's, with no 1/B)."""
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)
    inputs, us = forward_trace(layers, x, hidden)
    deltas, _ = backprop_deltas(
        layers, inputs, us, output_delta(us[-1], t, loss, activation, "sum"), hidden
    )
    return inputs, deltas


def _norms(inputs: Sequence[jax.Array], deltas: Sequence[jax.Array]) -> jax.Array:
    """sqrt(sum over layers of (||y_b||^2 + 1) ||delta_b||^2), `[B]`."""
    squared = sum(
        (jnp.sum(a * a, axis=1) + 1) * jnp.sum(d * d, axis=1)
        for a, d in zip(inputs, deltas, strict=True)
    )
    return jnp.sqrt(squared)


@jit_static("hidden", "loss", "activation", check=_check)
def per_example_grads(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    *,
    hidden: str,
    loss: str,
    activation: str,
) -> list[Dense]:
    """The gradient of each example's own loss E_b (no 1/B), every leaf with a leading B axis.

    Eq. (2) per example: dw_b = outer(y_b, delta_b); eq. (3): db_b = delta_b. This builds the
    `[B, fan_in, fan_out]` tensors; for their norms alone use `per_example_grad_norms`.

    **Arguments:** as `mlp_grads`, without `reduction`.

    **Returns:** `[Dense(w [B, fan_in, fan_out], b [B, fan_out]) per layer]`.
    """
    inputs, deltas = _per_example_deltas(layers, x, t, hidden, loss, activation)
    return [
        Dense(w=jnp.einsum("bi,bj->bij", a, d), b=d) for a, d in zip(inputs, deltas, strict=True)
    ]


@jit_static("hidden", "loss", "activation", check=_check)
def per_example_grad_norms(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    *,
    hidden: str,
    loss: str,
    activation: str,
) -> jax.Array:
    """||g_b||, the global L2 norm of each example's gradient over all layers, `[B]`.

    In closed form, sqrt(sum_layers (||y_b||^2 + 1) ||delta_b||^2), from the deltas of one
    backward pass: no per-example gradient is ever materialized.

    **Arguments:** as `per_example_grads`.
    """
    inputs, deltas = _per_example_deltas(layers, x, t, hidden, loss, activation)
    return _norms(inputs, deltas)


@jit_static("hidden", "loss", "activation", "reduction", check=_check)
def _clipped_grads(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    clip_norm: jax.Array,
    *,
    hidden: str,
    loss: str,
    activation: str,
    reduction: str,
) -> list[Dense]:
    inputs, deltas = _per_example_deltas(layers, x, t, hidden, loss, activation)
    norms = _norms(inputs, deltas)
    # min(1, C / ||g_b||), written so that a zero gradient gets 1 rather than 0/0.
    scale = jnp.where(norms > clip_norm, clip_norm / norms, 1).astype(norms.dtype)
    scale = per_batch(scale, norms.shape[0], reduction)
    grads = []
    for a, d in zip(inputs, deltas, strict=True):
        sd = scale[:, None] * d
        grads.append(Dense(w=a.T @ sd, b=sd.sum(axis=0)))
    return grads


def clipped_grads(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    *,
    clip_norm: ArrayLike,
    hidden: str,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> list[Dense]:
    """The DP-SGD clipped aggregate before noise: sum_b min(1, C / ||g_b||) g_b, divided by B
    for `reduction="mean"`.

    Computed as `y.T @ (s[:, None] * delta)` per layer, with s_b the clip factor: one
    backward pass plus the closed-form norms, no second backward pass and no per-example
    tensors. Matches `optax.per_example_global_norm_clip` of the vmapped gradients.

    **Arguments:**

    - `layers`, `x`, `t`, `hidden`, `loss`, `activation`: as `mlp_grads`.
    - `clip_norm`: C >= 0, a Python float or a scalar array (traced, so changing it does not
      recompile). A host value is checked to be >= 0; a device array is not, since reading
      it would sync with the host.
    - `reduction`: "mean" or "sum" (static).

    **Returns:** one `Dense(dw, db)` per layer, shaped like `layers`.
    """
    # A device array (or a tracer, under the caller's jit) is only checked for its static
    # shape and dtype: reading its value would sync with the host. A host value is checked.
    c = clip_norm if isinstance(clip_norm, jax.Array) else np.asarray(clip_norm)
    if c.ndim != 0 or not (
        jnp.issubdtype(c.dtype, jnp.floating) or jnp.issubdtype(c.dtype, jnp.integer)
    ):
        raise TypeError(f"clip_norm must be a real scalar; got {clip_norm!r}")
    if isinstance(c, np.ndarray) and not c >= 0:
        raise ValueError(f"clip_norm must be >= 0; got {clip_norm}")
    return _clipped_grads(
        layers, x, t, c, hidden=hidden, loss=loss, activation=activation, reduction=reduction
    )
