"""The closed-form backward pass that every public function shares: eq. (1) at the output,
eqs. (2)-(4) per layer, and eq. (4) fed into eq. (1) one layer down for hidden layers; plus
the `jax.custom_vjp` that makes it the backward pass `jax.grad` runs.

Shapes: a network of L dense layers maps x `[B, l]` through hidden widths to `[B, n]`.
`inputs[i]` is layer i's input (x for i = 0, else the previous hidden output) and `us[i]` its
pre-activation u = inputs[i] @ w + b.
"""

import functools
from collections.abc import Callable, Sequence

import jax

from backprop_ref import Dense
from manual_grad._activations import ACTIVATIONS
from manual_grad._losses import LOSSES


def per_batch(x: jax.Array, batch: int, reduction: str) -> jax.Array:
    """The reduction convention in one place: "mean" divides by the batch size B, "sum"
    leaves `x` as it is."""
    return x / batch if reduction == "mean" else x


def reduce_batch(per_example: jax.Array, reduction: str) -> jax.Array:
    """Sum a per-example quantity over the batch axis, divided by B for "mean"."""
    return per_batch(per_example.sum(axis=0), per_example.shape[0], reduction)


def output_delta(
    u: jax.Array, t: jax.Array, loss: str, activation: str, reduction: str
) -> jax.Array:
    """Eq. (1) at the output layer, `[B, n]`; see `manual_grad.delta`."""
    spec, act = LOSSES[loss], ACTIVATIONS[activation]
    out = act.fn(u)
    if activation in spec.fused:
        delta = spec.fused[activation].delta(out, t)
    else:
        delta = act.vjp(u, out, spec.grad(out, t))
    return per_batch(delta, u.shape[0], reduction)


def per_example_loss(u: jax.Array, t: jax.Array, loss: str, activation: str) -> jax.Array:
    """E per example, `[B]`, from the output logits u (stable form for a fused pair)."""
    spec = LOSSES[loss]
    if activation in spec.fused:
        return spec.fused[activation].fn_logits(u, t)
    return spec.fn(ACTIVATIONS[activation].fn(u), t)


def target_grad(
    u: jax.Array, t: jax.Array, loss: str, activation: str, reduction: str
) -> jax.Array:
    """dE/dt, `[B, n]`, with the 1/B of "mean"."""
    spec = LOSSES[loss]
    if activation in spec.fused:
        dt = spec.fused[activation].grad_t_logits(u, t)
    else:
        dt = spec.grad_t(ACTIVATIONS[activation].fn(u), t)
    return per_batch(dt, u.shape[0], reduction)


def forward_trace(
    layers: Sequence[Dense], x: jax.Array, hidden: str | None
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Run the network forward, keeping each layer's input and pre-activation for backprop."""
    inputs, us, a = [], [], x
    for i, layer in enumerate(layers):
        u = a @ layer.w + layer.b
        inputs.append(a)
        us.append(u)
        if i < len(layers) - 1:
            a = ACTIVATIONS[hidden].fn(u)
    return inputs, us


def backprop_deltas(
    layers: Sequence[Dense],
    inputs: Sequence[jax.Array],
    us: Sequence[jax.Array],
    delta: jax.Array,
    hidden: str | None,
) -> tuple[list[jax.Array], jax.Array]:
    """Pass the output layer's delta (eq. 1) down to every layer.

    Per layer, eq. (4) gives dy = delta @ w.T; one layer down that is dE/dy_j of the hidden
    output, and eq. (1) again gives delta_j = f'(u_j) * dy_j.

    **Returns:** each layer's delta `[B, fan_out]`, in layer order, and dE/dx `[B, l]`.
    """
    deltas = [delta]
    for i in range(len(layers) - 1, 0, -1):
        dy = deltas[-1] @ layers[i].w.T
        deltas.append(ACTIVATIONS[hidden].vjp(us[i - 1], inputs[i], dy))
    return deltas[::-1], deltas[-1] @ layers[0].w.T


def backward(
    layers: Sequence[Dense],
    inputs: Sequence[jax.Array],
    us: Sequence[jax.Array],
    delta: jax.Array,
    hidden: str | None,
) -> tuple[list[Dense], jax.Array]:
    """Backprop `delta` (the output layer's eq. (1)) down through every layer.

    Per layer: eq. (2) dw = y.T @ delta, eq. (3) db = delta.sum(0), with each layer's delta
    from `backprop_deltas`.

    **Returns:** the parameter gradients, one `Dense(dw, db)` per layer, and dE/dx `[B, l]`.
    """
    deltas, dx = backprop_deltas(layers, inputs, us, delta, hidden)
    grads = [Dense(w=a.T @ d, b=d.sum(axis=0)) for a, d in zip(inputs, deltas, strict=True)]
    return grads, dx


@functools.cache
def energy(
    hidden: str | None, loss: str, activation: str, reduction: str
) -> Callable[[list[Dense], jax.Array, jax.Array], jax.Array]:
    """E(layers, x, t) as a `jax.custom_vjp` whose backward pass is `backward` above.

    `jax.grad` of it (and any optax loop around it) therefore runs the notes' equations, not
    autodiff. Its derivative with respect to t is closed-form too (`target_grad`). Being a
    custom_vjp, it supports reverse mode only: `jax.jvp` and `jax.jacfwd` raise.
    """

    def value(layers: list[Dense], x: jax.Array, t: jax.Array) -> tuple[jax.Array, tuple]:
        inputs, us = forward_trace(layers, x, hidden)
        e = reduce_batch(per_example_loss(us[-1], t, loss, activation), reduction)
        return e, (layers, inputs, us, t)

    @jax.custom_vjp
    def e(layers: list[Dense], x: jax.Array, t: jax.Array) -> jax.Array:
        return value(layers, x, t)[0]

    def bwd(res: tuple, g: jax.Array) -> tuple[list[Dense], jax.Array, jax.Array]:
        layers, inputs, us, t = res
        delta = g * output_delta(us[-1], t, loss, activation, reduction)
        grads, dx = backward(layers, inputs, us, delta, hidden)
        return grads, dx, g * target_grad(us[-1], t, loss, activation, reduction)

    e.defvjp(value, bwd)
    return e
