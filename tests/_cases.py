"""The parameter grid the tests sweep: every valid pair x shape, including B=1 and n=1."""

import manual_grad as mg
from backprop_ref import check_output_width

SHAPES = ((1, 3, 2), (4, 3, 1), (6, 5, 4))
"""(B, m, n): a single example, a single output, and a general case."""


def _defined(loss: str, activation: str, n: int) -> bool:
    try:
        check_output_width(loss, activation, n)
    except ValueError:
        return False
    return True


PAIR_SHAPES = [
    (loss, activation, shape)
    for loss, activation in mg.PAIRS
    for shape in SHAPES
    if _defined(loss, activation, shape[2])
]
