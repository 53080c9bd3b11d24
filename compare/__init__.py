"""Proof that manual_grad's closed forms agree with jax.grad: per-leaf reports, one
dtype-aware tolerance table, and a diagnosis of why two gradients differ.

`python -m compare` runs the comparison over every (loss, activation) pair.
"""

from compare._problems import make_network, make_problem
from compare._report import GradReport, LeafReport, assert_grads_close, compare_grads
from compare._tolerances import TOLERANCES, Tolerance, tolerance

__all__ = [
    "TOLERANCES",
    "GradReport",
    "LeafReport",
    "Tolerance",
    "assert_grads_close",
    "compare_grads",
    "make_network",
    "make_problem",
    "tolerance",
]
