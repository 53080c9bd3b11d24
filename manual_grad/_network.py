"""Whole networks: a list of `Dense` layers, backprop through the hidden layers in closed form.

The notes stop at the output layer, but their eq. (4), dy_j = sum_r delta_r w_jr, exists to be
passed down: one layer lower, delta_j = f'(u_j) * dy_j is eq. (1) again, and eqs. (2)-(3)
repeat. Hidden activations come from the same registry as output activations.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from backprop_ref import Dense, check_choice, check_network_args, jit_static
from manual_grad._activations import ACTIVATIONS
from manual_grad._backprop import backward, energy, forward_trace, output_delta
from manual_grad._output_layer import _check

_HE = frozenset({"relu", "softplus"})
"""Hidden activations that zero (or nearly) half their input: He init keeps the variance."""


def init_mlp(
    key: jax.Array, sizes: Sequence[int], *, hidden: str = "relu", dtype: DTypeLike = jnp.float32
) -> list[Dense]:
    """Random layers for a network of widths `sizes = [l, h_1, ..., n]`.

    Weights are He-normal (std sqrt(2 / fan_in)) for layers followed by a relu or softplus,
    Glorot-normal (std sqrt(2 / (fan_in + fan_out))) otherwise, including the output layer;
    biases are zero.

    **Arguments:**

    - `key`: a `jax.random` key.
    - `sizes`: the input width, each hidden width, and the output width (at least two).
    - `hidden`: the hidden activation the network will use, which picks the initializer.
    - `dtype`: of every array.

    **Returns:** `[Dense(w [sizes[i], sizes[i+1]], b [sizes[i+1]]) for each layer]`.
    """
    check_choice("hidden", hidden, ACTIVATIONS)
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"sizes must be two or more positive ints [l, ..., n]; got {sizes}")
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        is_hidden = i < len(sizes) - 2
        he = is_hidden and hidden in _HE
        init = jax.nn.initializers.he_normal() if he else jax.nn.initializers.glorot_normal()
        layers.append(Dense(init(k, (fan_in, fan_out), dtype), jnp.zeros(fan_out, dtype)))
    return layers


@jit_static("hidden", "activation", check=_check)
def mlp_forward(
    layers: Sequence[Dense], x: ArrayLike, *, hidden: str, activation: str
) -> jax.Array:
    """The network's output: u = a @ w + b per layer, `hidden` between layers, `activation`
    after the last.

    **Arguments:**

    - `layers`: `[Dense(w [l, h_1], b [h_1]), ..., Dense(w [h_L-1, n], b [n])]`.
    - `x`: the input, `[B, l]`.
    - `hidden`, `activation`: names in `manual_grad.ACTIVATIONS` (static).

    **Returns:** `[B, n]`.
    """
    layers, x, _ = check_network_args(layers, x)
    _, us = forward_trace(layers, x, hidden)
    return ACTIVATIONS[activation].fn(us[-1])


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
    """The network's error E, a `jax.custom_vjp` whose backward pass is the closed form.

    `jax.grad(mlp_loss)` and `jax.value_and_grad(mlp_loss)` inside an optax loop therefore
    run eqs. (1)-(4) layer by layer (see `mlp_grads`), not autodiff. Reverse mode only:
    `jax.jvp`/`jax.jacfwd` raise.

    **Arguments:**

    - `layers`, `x`: as in `mlp_forward`.
    - `t`: the target, `[B, n]`.
    - `hidden`: the hidden activation (static).
    - `loss`, `activation`: a pair in `manual_grad.PAIRS` for the output layer (static).
    - `reduction`: `"mean"` (divide the batch sum by B) or `"sum"` (static).

    **Returns:** the scalar E.
    """
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)
    return energy(hidden, loss, activation, reduction)(layers, x, t)


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
    """Backprop through the whole network in closed form.

    Output layer: delta from eq. (1). Each layer, top down: eq. (2) dw = y.T @ delta,
    eq. (3) db = delta.sum(0), eq. (4) dy = delta @ w.T; then one layer down the hidden
    delta is eq. (1) with dE/dy_j = dy_j: delta_j = f'(u_j) * sum_k delta_k w_jk.

    **Arguments:** as in `mlp_loss`.

    **Returns:** `(grads, dx)`: one `Dense(dw, db)` per layer, shaped like `layers`, and
    dE/dx `[B, l]`.
    """
    layers, x, t = check_network_args(layers, x, t, loss=loss, activation=activation)
    inputs, us = forward_trace(layers, x, hidden)
    delta = output_delta(us[-1], t, loss, activation, reduction)
    return backward(layers, inputs, us, delta, hidden)
