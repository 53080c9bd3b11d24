"""The output-layer gradients of manual_grad, computed independently by `jax.grad`.

Same names and signatures as manual_grad: `forward`, `loss`, `delta`, `output_layer_grads`,
`PAIRS`, and for networks `mlp_forward`, `mlp_loss`, `mlp_grads`. It never imports
manual_grad.
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
from backprop_ref import Dense, OutputGrads

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "PAIRS",
    "Dense",
    "OutputGrads",
    "delta",
    "forward",
    "loss",
    "mlp_forward",
    "mlp_grads",
    "mlp_loss",
    "output_layer_grads",
]
