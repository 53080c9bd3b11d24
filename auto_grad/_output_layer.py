"""The same quantities as manual_grad, obtained from `jax.grad` of the forward computation.

Written without manual_grad: activations come from `jax.nn`, and losses from optax's
logit-based losses wherever the activation allows it, so that agreement with manual_grad is
evidence rather than the same formula run twice.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
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

PerExampleLoss = Callable[[jax.Array, jax.Array], jax.Array]
"""(u [B, n], t [B, n]) -> E per example [B], from the logits u."""

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda u: u,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": jax.nn.softmax,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}


def _mse_of(f: Callable[[jax.Array], jax.Array]) -> PerExampleLoss:
    # optax.l2_loss is 1/2 (y - t)^2: the notes' convention.
    return lambda u, t: optax.l2_loss(f(u), t).sum(axis=-1)


def _ce_sigmoid(u: jax.Array, t: jax.Array) -> jax.Array:
    return -jnp.sum(t * jax.nn.log_sigmoid(u), axis=-1)


def _bce_softmax(u: jax.Array, t: jax.Array) -> jax.Array:
    log_y, y = jax.nn.log_softmax(u), jax.nn.softmax(u)
    return -jnp.sum(t * log_y + (1 - t) * jnp.log1p(-y), axis=-1)


LOSSES: dict[tuple[str, str], PerExampleLoss] = {
    **{("mse", name): _mse_of(f) for name, f in ACTIVATIONS.items()},
    ("ce", "softmax"): optax.softmax_cross_entropy,
    ("ce", "sigmoid"): _ce_sigmoid,
    ("bce", "sigmoid"): lambda u, t: optax.sigmoid_binary_cross_entropy(u, t).sum(axis=-1),
    ("bce", "softmax"): _bce_softmax,
}
"""Per-example loss of the logits for every valid (loss, activation) pair."""

PAIRS: tuple[tuple[str, str], ...] = tuple(LOSSES)

_check = options_check(PAIRS, ACTIVATIONS)
"""Validates the static options of every function of auto_grad, before tracing."""


def _objective(loss: str, activation: str, reduction: str) -> PerExampleLoss:
    """E(u, t): the pair's per-example loss of the logits, reduced over the batch."""
    per_example, reduce = LOSSES[(loss, activation)], getattr(jnp, reduction)
    return lambda u, t: reduce(per_example(u, t))


@jit_static("activation", check=_check)
def forward(params: Dense, y: ArrayLike, *, activation: str) -> jax.Array:
    """The layer's output f(y @ w + b), `[B, n]`; same arguments as `manual_grad.forward`."""
    w, b, y = check_forward_args(params, y)
    return ACTIVATIONS[activation](y @ w + b)


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
    """The scalar error E (`jnp.mean` or `jnp.sum` over the batch of the per-example loss)."""
    objective = _objective(loss, activation, reduction)
    w, b, y, t = check_output_layer_args(params, y, t, loss=loss, activation=activation)
    return objective(y @ w + b, t)


@jit_static("loss", "activation", "reduction", check=_check)
def delta(
    u: ArrayLike, t: ArrayLike, *, loss: str, activation: str, reduction: str = "mean"
) -> jax.Array:
    """dE/du, `[B, n]`, as `jax.grad` of E with respect to the logits u."""
    objective = _objective(loss, activation, reduction)
    u, t = check_delta_args(u, t, loss=loss, activation=activation)
    return jax.grad(objective)(u, t)


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
    """`OutputGrads(dw [m, n], db [n], dy [B, m])` as `jax.grad` of E in (w, b, y)."""
    objective = _objective(loss, activation, reduction)
    w, b, y, t = check_output_layer_args(params, y, t, loss=loss, activation=activation)
    dw, db, dy = jax.grad(lambda w, b, y: objective(y @ w + b, t), argnums=(0, 1, 2))(w, b, y)
    return OutputGrads(dw=dw, db=db, dy=dy)
