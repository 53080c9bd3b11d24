"""Whole networks through `jax.grad`: the same signatures as manual_grad's network functions."""

from collections.abc import Sequence

import jax
from jax.typing import ArrayLike

from auto_grad._output_layer import ACTIVATIONS, _check, _objective
from backprop_ref import Dense, check_network_args, jit_static


def _logits(layers: Sequence[Dense], x: jax.Array, hidden: str) -> jax.Array:
    *body, last = layers
    for layer in body:
        x = ACTIVATIONS[hidden](x @ layer.w + layer.b)
    return x @ last.w + last.b


@jit_static("hidden", "activation", check=_check)
def mlp_forward(
    layers: Sequence[Dense], x: ArrayLike, *, hidden: str, activation: str
) -> jax.Array:
    """The network's output `[B, n]`; as `manual_grad.mlp_forward`."""
    layers, x, _ = check_network_args(layers, x)
    return ACTIVATIONS[activation](_logits(layers, x, hidden))


@jit_static("hidden", "loss", "activation", "reduction", check=_check)
def mlp_loss(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    *,
    hidden: str,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> jax.Array:
    """The network's error E, plain JAX (so `jax.grad` of it is autodiff)."""
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)
    return _objective(loss, activation, reduction)(_logits(layers, x, hidden), t)


@jit_static("hidden", "loss", "activation", "reduction", check=_check)
def mlp_grads(
    layers: Sequence[Dense],
    x: ArrayLike,
    t: ArrayLike,
    *,
    hidden: str,
    loss: str,
    activation: str,
    reduction: str = "mean",
) -> tuple[list[Dense], jax.Array]:
    """`(grads, dx)` as `jax.grad` of E in (layers, x); as `manual_grad.mlp_grads`."""
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)
    objective = _objective(loss, activation, reduction)
    return jax.grad(lambda ls, x: objective(_logits(ls, x, hidden), t), argnums=(0, 1))(layers, x)
