"""Per-example gradients the autodiff way: `jax.vmap(jax.grad(...))` over single examples,
their norms, and optax's DP-SGD clipped sum. The reference (and the baseline to beat) for
manual_grad's closed forms."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from auto_grad._network import mlp_loss
from auto_grad._output_layer import _check
from backprop_ref import Dense, check_network_args, jit_static


def _vmapped_grads(layers, x, t, hidden, loss, activation):
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)

    def one(xb: jax.Array, tb: jax.Array) -> list[Dense]:
        return jax.grad(mlp_loss)(
            layers,
            xb[None],
            tb[None],
            hidden=hidden,
            loss=loss,
            activation=activation,
            reduction="sum",
        )

    return jax.vmap(one)(x, t)


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
    """`jax.vmap(jax.grad(E_b))`: each leaf with a leading B axis."""
    return _vmapped_grads(layers, x, t, hidden, loss, activation)


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
    """The global L2 norm of each vmapped per-example gradient, `[B]`."""
    return jax.vmap(optax.tree.norm)(_vmapped_grads(layers, x, t, hidden, loss, activation))


@jit_static("hidden", "loss", "activation", "reduction", check=_check)
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
    """`optax.per_example_global_norm_clip` of the vmapped gradients (divided by B for mean)."""
    grads = _vmapped_grads(layers, x, t, hidden, loss, activation)
    total, _ = optax.per_example_global_norm_clip(grads, jnp.asarray(clip_norm))
    batch = jnp.shape(x)[0]
    return jax.tree.map(lambda g: g / batch, total) if reduction == "mean" else total
