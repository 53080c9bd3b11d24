"""Random output-layer problems with the targets each loss expects, for the CLI and tests."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from backprop_ref import Dense


def make_problem(
    rng: np.random.Generator, loss: str, shape: tuple[int, int, int], dtype: str
) -> tuple[Dense, jax.Array, jax.Array]:
    """Random `(params, y, t)` with the target each loss expects: class probabilities for
    ce, values in [0, 1] for bce, reals for mse. Drawn in float64 with NumPy and then cast,
    so that every dtype sees the same numbers."""
    B, m, n = shape
    y = rng.standard_normal((B, m))
    w = rng.standard_normal((m, n)) / np.sqrt(m)
    b = 0.1 * rng.standard_normal(n)
    if loss == "ce":
        e = np.exp(2 * rng.standard_normal((B, n)))
        t = e / e.sum(axis=1, keepdims=True)
    elif loss == "bce":
        t = rng.uniform(size=(B, n))
    else:
        t = rng.standard_normal((B, n))
    w, b, y, t = (jnp.asarray(x, dtype=dtype) for x in (w, b, y, t))
    return Dense(w, b), y, t


def make_network(
    rng: np.random.Generator, loss: str, sizes: tuple[int, ...], batch: int, dtype: str
) -> tuple[list[Dense], jax.Array, jax.Array]:
    """Random `(layers, x, t)` for a network of widths `sizes = (l, ..., n)`, drawn like
    `make_problem` (weights ~ N(0, 1/fan_in), nonzero biases so that a bias gradient sent to
    the wrong layer would show)."""
    _, x, t = make_problem(rng, loss, (batch, sizes[0], sizes[-1]), dtype)
    layers = [
        Dense(
            jnp.asarray(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in), dtype=dtype),
            jnp.asarray(0.1 * rng.standard_normal(fan_out), dtype=dtype),
        )
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]
    return layers, x, t
