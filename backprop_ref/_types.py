"""The pytrees every gradient function takes and returns."""

from typing import NamedTuple

import jax


class Dense(NamedTuple):
    """A dense layer's parameters, u = y @ w + b.

    **Fields:**

    - `w`: weights w_jk, shape `[m, n]` (the notes' W is m x n).
    - `b`: biases b_k, shape `[n]`.

    A `NamedTuple`, so it is a pytree: `jax.grad`, `jax.tree_util` and optax take it as is.
    """

    w: jax.Array
    b: jax.Array


class OutputGrads(NamedTuple):
    """Gradients of the error E for one output layer, eqs. (2)-(4) of the notes.

    **Fields:**

    - `dw`: dE/dw_jk = y_j * delta_k, shape `[m, n]` (eq. 2).
    - `db`: dE/db_k = delta_k, shape `[n]` (eq. 3).
    - `dy`: dE/dy_j = sum_r delta_r * w_jr, shape `[B, m]` (eq. 4), the gradient passed down
      to the layer below.

    `Dense(dw, db)` is the parameter gradient in the shape optax expects.
    """

    dw: jax.Array
    db: jax.Array
    dy: jax.Array

    @property
    def params(self) -> Dense:
        """The parameter gradient `Dense(dw, db)`, shaped like the layer, for optax."""
        return Dense(self.dw, self.db)
