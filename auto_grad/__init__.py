"""The output-layer gradients of manual_grad, computed independently by `jax.grad`.

Same names and signatures as manual_grad: `forward`, `loss`, `delta`, `output_layer_grads`,
`PAIRS`, for networks `mlp_forward`, `mlp_loss`, `mlp_grads`, and per example
`per_example_grads`, `per_example_grad_norms`, `clipped_grads` (vmap of grad). It never
imports manual_grad.
"""

from auto_grad._network import mlp_forward, mlp_grads, mlp_loss
from auto_grad._output_layer import (
    ACTIVATIONS,
    LOSSES,
    PAIRS,
    delta,
    forward,
    loss,
    output_layer_grads,
)
from auto_grad._per_example import clipped_grads, per_example_grad_norms, per_example_grads
from backprop_ref import Dense, OutputGrads

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "PAIRS",
    "Dense",
    "OutputGrads",
    "clipped_grads",
    "delta",
    "forward",
    "loss",
    "mlp_forward",
    "mlp_grads",
    "mlp_loss",
    "output_layer_grads",
    "per_example_grad_norms",
    "per_example_grads",
]
