"""Closed-form gradients of a dense output layer: the study notes' eqs. (1)-(4) as pure,
jit-compiled JAX functions.

```python
import manual_grad as mg
grads = mg.output_layer_grads(mg.Dense(w, b), y, t, loss="ce", activation="softmax")
```
"""

from backprop_ref import Dense, OutputGrads
from manual_grad._activations import ACTIVATIONS, Activation
from manual_grad._fused import fused_linear_cross_entropy
from manual_grad._losses import LOSSES, Fused, Loss
from manual_grad._network import init_mlp, mlp_forward, mlp_grads, mlp_loss
from manual_grad._output_layer import PAIRS, delta, forward, loss, output_layer_grads
from manual_grad._per_example import clipped_grads, per_example_grad_norms, per_example_grads

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "PAIRS",
    "Activation",
    "Dense",
    "Fused",
    "Loss",
    "OutputGrads",
    "clipped_grads",
    "delta",
    "forward",
    "fused_linear_cross_entropy",
    "init_mlp",
    "loss",
    "mlp_forward",
    "mlp_grads",
    "mlp_loss",
    "output_layer_grads",
    "per_example_grad_norms",
    "per_example_grads",
]
