"""Proof that manual_grad's closed forms agree with jax.grad: per-leaf reports, one
dtype-aware tolerance table, and a diagnosis of why two gradients differ.

`python -m compare` runs the comparison over every (loss, activation) pair.

The names below are loaded on first use, so that importing the package (as
`python -m compare` does first) does not import JAX: `--devices N` must set XLA's host
device count before JAX is imported.
"""

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TOLERANCES": "compare._tolerances",
    "Tolerance": "compare._tolerances",
    "tolerance": "compare._tolerances",
    "GradReport": "compare._report",
    "LeafReport": "compare._report",
    "assert_grads_close": "compare._report",
    "compare_grads": "compare._report",
    "make_network": "compare._problems",
    "make_problem": "compare._problems",
}

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

if TYPE_CHECKING:
    from compare._problems import make_network, make_problem
    from compare._report import GradReport, LeafReport, assert_grads_close, compare_grads
    from compare._tolerances import TOLERANCES, Tolerance, tolerance


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'compare' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
