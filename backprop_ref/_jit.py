"""`jit_static`: `jax.jit` for functions configured by keyword-only static strings."""

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax

F = TypeVar("F", bound=Callable[..., Any])


def jit_static(*names: str, check: Callable[..., None] | None = None) -> Callable[[F], F]:
    """Jit `fn` with `names` static, binding defaults first so each shape traces once.

    Plain `jax.jit` keys its cache on the keywords as passed, so `f(x, reduction="mean")` and
    `f(x)` would trace twice although they mean the same. `check`, if given, receives the
    static arguments by name and runs before tracing, so a bad option fails with its own
    message (not with jax's complaint about an unhashable static argument).
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        jitted = jax.jit(fn, static_argnames=names)

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
