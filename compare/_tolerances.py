"""The one tolerance table, keyed by dtype, that tests, the CLI and users all compare with."""

from typing import NamedTuple

import numpy as np
from jax.typing import DTypeLike


class Tolerance(NamedTuple):
    """An element passes when |got - want| <= rtol * |want| + atol * scale.

    `scale` is the largest |want| in the leaf. Scaling atol by it keeps the test invariant
    when the whole gradient is rescaled (as `reduction="mean"` does by 1/B), and forgives
    rounding in elements that cancel to near zero, whose error is set by the size of the
    terms summed rather than by their result.
    """

    rtol: float
    atol: float


TOLERANCES: dict[str, Tolerance] = {
    # unit roundoff: float64 1.1e-16, float32 6.0e-8, float16 4.9e-4, bfloat16 3.9e-3.
    "float64": Tolerance(rtol=1e-12, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
    "float16": Tolerance(rtol=5e-3, atol=2e-3),
    "bfloat16": Tolerance(rtol=2e-2, atol=1e-2),
}


def tolerance(dtype: DTypeLike) -> Tolerance:
    """The tolerance for `dtype`; `KeyError` naming the table's dtypes for any other."""
    name = np.dtype(dtype).name
    if name not in TOLERANCES:
        raise KeyError(f"no tolerance for dtype {name}; TOLERANCES has {sorted(TOLERANCES)}")
    return TOLERANCES[name]
