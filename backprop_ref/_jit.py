"""`jit_static`: `jax.jit` for functions configured by keyword-only static strings, with one
rule for low precision."""

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

F = TypeVar("F", bound=Callable[..., Any])

LOW_PRECISION = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


def _is_float(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)


def compute_in_float32(fn: F) -> F:
    """Run `fn` in float32 when its float arrays are all bfloat16 or all float16, and round
    its float results back to that dtype.

    The documented rule for low precision: the gradients come back in the input dtype, but
    are computed in float32, as optax computes its numerically sensitive losses. In bfloat16
    itself a chain rule that divides by y (1 - y) loses several percent, as much as the
    errors a reference library must catch. Scalars (a clip norm, say) do not decide the
    dtype; mixed float dtypes are left alone for the argument checks to reject.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        arrays = [x for x in jax.tree.leaves((args, kwargs)) if _is_float(x) and x.ndim > 0]
        dtypes = {jnp.dtype(x.dtype) for x in arrays}
        if len(dtypes) != 1 or (low := dtypes.pop()) not in LOW_PRECISION:
            return fn(*args, **kwargs)

        def up(x: Any) -> Any:
            return x.astype(jnp.float32) if _is_float(x) and x.dtype == low else x

        args, kwargs = jax.tree.map(up, (args, kwargs))
        out = fn(*args, **kwargs)
        return jax.tree.map(lambda x: x.astype(low) if _is_float(x) else x, out)

    return wrapper  # type: ignore[return-value]


def jit_static(*names: str, check: Callable[..., None] | None = None) -> Callable[[F], F]:
    """Jit `fn` with `names` static, binding defaults first so each shape traces once.

    Plain `jax.jit` keys its cache on the keywords as passed, so `f(x, reduction="mean")` and
    `f(x)` would trace twice although they mean the same. `check`, if given, receives the
    static arguments by name and runs before tracing, so a bad option fails with its own
    message (not with jax's complaint about an unhashable static argument). Low-precision
    inputs follow `compute_in_float32`.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        jitted = jax.jit(compute_in_float32(fn), static_argnames=names)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            if check is not None:
                check(**{name: bound.arguments[name] for name in names})
            return jitted(*bound.args, **bound.kwargs)

        wrapper.jitted = jitted  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
