"""The notes' output-layer gradients, eqs. (1)-(4), as pure jit-compiled functions.

Convention: E is the per-example loss summed over the batch (`reduction="sum"`) or averaged
over it (`reduction="mean"`, the default), so under "mean" every gradient carries a 1/B.
"""

import jax
from jax.typing import ArrayLike

from backprop_ref import (
    Dense,
    OutputGrads,
    check_delta_args,
    check_forward_args,
    check_output_layer_args,
    jit_static,
    options_check,
)
from manual_grad._activations import ACTIVATIONS
from manual_grad._backprop import backward, energy, output_delta
from manual_grad._losses import LOSSES

PAIRS: tuple[tuple[str, str], ...] = tuple(
    (name, act) for name, spec in LOSSES.items() for act in spec.activations
)

_check = options_check(PAIRS, ACTIVATIONS)
"""Validates the static options of every function of manual_grad, before tracing."""


@jit_static("activation", check=_check)
def forward(params: Dense, y: ArrayLike, *, activation: str) -> jax.Array:
    """The layer's output y_k = f(u_k), with u_k = sum_q y_q w_qk + b_k.

    **Arguments:**

    - `params`: `Dense(w [m, n], b [n])`.
    - `y`: the layer's input, `[B, m]`.
    - `activation`: a name in `manual_grad.ACTIVATIONS` (static).

    **Returns:** `out`, `[B, n]`.
    """
    w, b, y = check_forward_args(params, y)
    return ACTIVATIONS[activation].fn(y @ w + b)


@jit_static("loss", "activation", "reduction", check=_check)
def loss(
    params: Dense,
    y: ArrayLike,
    t: ArrayLike,
    *,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> jax.Array:
    """The error E of the output layer, reduced over the batch.

    For a fused pair (the canonical three and ce+sigmoid) the loss is computed from the
    logits u in a stable form (log-softmax for ce+softmax, softplus(u) - t u for
    bce+sigmoid, softplus(-u) for ce+sigmoid).

    A `jax.custom_vjp` whose backward pass is the closed form: `jax.grad` of this function
    runs eqs. (1)-(4) (the same numbers as `output_layer_grads`), not autodiff. Reverse mode
    only: `jax.jvp` raises.

    **Arguments:**

    - `params`: `Dense(w [m, n], b [n])`.
    - `y`: the layer's input, `[B, m]`.
    - `t`: the target, `[B, n]`.
    - `loss`, `activation`: a pair in `manual_grad.PAIRS` (static).
    - `reduction`: `"mean"` divides the batch sum by B, `"sum"` does not (static).

    **Returns:** the scalar E.
    """
    w, b, y, t = check_output_layer_args(params, y, t, loss=loss, activation=activation)
    return energy(None, loss, activation, reduction)([Dense(w, b)], y, t)


@jit_static("loss", "activation", "reduction", check=_check)
def delta(
    u: ArrayLike,
    t: ArrayLike,
    *,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> jax.Array:
    """Eq. (1): delta_k = dE/du_k = (dE/dy_k) * (dy_k/du_k).

    For the canonical pairs (mse+identity, ce+softmax, bce+sigmoid) the product is simplified
    by hand to delta = y - t (for ce, y * sum_k t_k - t, which is y - t when each row of t
    sums to 1), and for ce+sigmoid to -t (1 - y); these fused forms are cheaper and stay
    finite and exact at any logit size (`python -m compare --stress` shows |u| = 1e4 in
    float32). Every other pair multiplies the loss's dE/dy by the activation's dy/du (for
    softmax, a Jacobian-vector product). Under `reduction="mean"`, delta includes the 1/B.

    Precision of the general chain rule: its two factors are each exact, and mse has no
    division, so mse with any activation stays finite. bce+softmax divides by y_k and
    1 - y_k: terms whose coefficient t_k or 1 - t_k is 0 are dropped exactly, and where a
    remaining y_k (or 1 - y_k) falls below the smallest normal float (logit gaps beyond
    about 87 in float32, 708 in float64) delta is NaN, never a finite wrong number; the
    loss is then inf.

    **Arguments:**

    - `u`: pre-activations u_k, `[B, n]`.
    - `t`: the target, `[B, n]`.
    - `loss`, `activation`, `reduction`: as in `loss` (static).

    **Returns:** `delta`, `[B, n]`.
    """
    u, t = check_delta_args(u, t, loss=loss, activation=activation)
    return output_delta(u, t, loss, activation, reduction)


@jit_static("loss", "activation", "reduction", check=_check)
def output_layer_grads(
    params: Dense,
    y: ArrayLike,
    t: ArrayLike,
    *,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> OutputGrads:
    """Eqs. (2)-(4): the gradients of E with respect to w, b and the layer's input y.

    - Eq. (2): dw_jk = y_j * delta_k, summed over the batch: `dw = y.T @ delta`.
    - Eq. (3): db_k = delta_k, summed over the batch: `db = delta.sum(0)`.
    - Eq. (4): dy_j = sum_r delta_r * w_jr: `dy = delta @ w.T`.

    with delta from eq. (1) (see `delta`), including the 1/B of `reduction="mean"`.

    **Arguments:**

    - `params`: `Dense(w [m, n], b [n])`.
    - `y`: the layer's input, `[B, m]`.
    - `t`: the target, `[B, n]`.
    - `loss`, `activation`, `reduction`: as in `loss` (static).

    **Returns:** `OutputGrads(dw [m, n], db [n], dy [B, m])`.
    """
    w, b, y, t = check_output_layer_args(params, y, t, loss=loss, activation=activation)
    layer, u = Dense(w, b), y @ w + b
    (grads,), dy = backward(
        [layer], [y], [u], output_delta(u, t, loss, activation, reduction), None
    )
    return OutputGrads(dw=grads.w, db=grads.b, dy=dy)
