"""What manual_grad and auto_grad share that is not gradient math: the result pytrees, the
argument checks and the jit wrapper. Keeping these here lets the two libraries stay
independent of each other."""

from backprop_ref._jit import LOW_PRECISION, compute_in_float32, jit_static
from backprop_ref._types import Dense, OutputGrads
from backprop_ref.checks import (
    REDUCTIONS,
    check_choice,
    check_delta_args,
    check_forward_args,
    check_fused_args,
    check_network_args,
    check_output_layer_args,
    check_output_width,
    check_pair,
    check_reduction,
    options_check,
)

__all__ = [
    "LOW_PRECISION",
    "REDUCTIONS",
    "Dense",
    "OutputGrads",
    "check_choice",
    "check_delta_args",
    "check_forward_args",
    "check_fused_args",
    "check_network_args",
    "check_output_layer_args",
    "check_output_width",
    "check_pair",
    "check_reduction",
    "compute_in_float32",
    "jit_static",
    "options_check",
]
