"""Output activations y_k = f(u_k) next to their closed-form derivatives dy_k/du_k.

Each entry's `vjp(u, out, g)` returns g * dy/du, the second factor of eq. (1): given
g = dE/dy it gives delta = dE/du. For an elementwise f that is g * f'(u); softmax couples
the outputs, so its derivative is a Jacobian-vector product.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Activation(NamedTuple):
    """An activation and its closed-form derivative.

    - `fn(u) -> out`: `[B, n] -> [B, n]`.
    - `vjp(u, out, g) -> g * dy/du`: `[B, n]` each; `out = fn(u)` is passed in because most
      derivatives are cheapest written in terms of the output.
    """

    fn: Callable[[jax.Array], jax.Array]
    vjp: Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def _identity(u: jax.Array) -> jax.Array:
    return u


def _identity_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy/du = 1."""
    return g


def _sigmoid(u: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(u)


def _sigmoid_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy/du = y (1 - y)."""
    return g * out * (1 - out)


def _tanh_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy/du = 1 - y^2."""
    return g * (1 - out * out)


def _softmax(u: jax.Array) -> jax.Array:
    # Subtracting the row max leaves softmax unchanged and keeps exp() from overflowing.
    e = jnp.exp(u - u.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy_r/du_k = y_r (1[r = k] - y_k), so sum_r g_r dy_r/du_k = y_k (g_k - sum_r g_r y_r)."""
    return out * (g - jnp.sum(g * out, axis=-1, keepdims=True))


def _relu(u: jax.Array) -> jax.Array:
    return jnp.maximum(u, 0)


def _relu_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy/du = 1 for u > 0, else 0 (0 at the kink, as jax.nn.relu's derivative)."""
    return jnp.where(u > 0, g, jnp.zeros_like(g))


def softplus(u: jax.Array) -> jax.Array:
    """log(1 + e^u), written as max(u, 0) + log1p(e^-|u|) so that it never overflows."""
    return jnp.maximum(u, 0) + jnp.log1p(jnp.exp(-jnp.abs(u)))


def _softplus_vjp(u: jax.Array, out: jax.Array, g: jax.Array) -> jax.Array:
    """dy/du = sigmoid(u)."""
    return g * jax.nn.sigmoid(u)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(fn=_identity, vjp=_identity_vjp),
    "sigmoid": Activation(fn=_sigmoid, vjp=_sigmoid_vjp),
    "tanh": Activation(fn=jnp.tanh, vjp=_tanh_vjp),
    "softmax": Activation(fn=_softmax, vjp=_softmax_vjp),
    "relu": Activation(fn=_relu, vjp=_relu_vjp),
    "softplus": Activation(fn=softplus, vjp=_softplus_vjp),
}
