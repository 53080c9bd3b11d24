"""`python -m compare --stress`: delta (eq. 1) at extreme logits, where naive autodiff fails.

Float32 logits of growing size |u| with targets of exactly 0 and 1, for each method:
manual_grad (the closed form; for a fused pair such as ce+softmax, delta = y - t), auto_grad
(`jax.grad` through optax's stable losses), and naive autodiff (`jax.grad` through
`log(softmax(u))` or `log(sigmoid(u))`). Each cell is the relative error against a float64
reference, or which non-finite value came out.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import auto_grad as ag
import manual_grad as mg

SCALES = (1.0, 1e1, 1e2, 1e4)
PAIRS = (
    ("ce", "softmax"),
    ("bce", "sigmoid"),
    ("mse", "identity"),
    ("ce", "sigmoid"),
    ("mse", "sigmoid"),
    ("bce", "softmax"),
)


def _naive_loss(loss: str, activation: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """E written straight from its definition, with no care for rounding."""
    f = {"softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid, "identity": lambda u: u}[activation]

    def energy(u: jax.Array, t: jax.Array) -> jax.Array:
        y = f(u)
        if loss == "ce":
            e = -jnp.sum(t * jnp.log(y), axis=-1)
        elif loss == "bce":
            e = -jnp.sum(t * jnp.log(y) + (1 - t) * jnp.log(1 - y), axis=-1)
        else:
            e = 0.5 * jnp.sum((y - t) ** 2, axis=-1)
        return e.mean()

    return energy


def _problem(loss: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    u = scale * rng.standard_normal((4, 5))
    if loss == "ce":
        t = np.eye(5)[rng.integers(0, 5, 4)]
    else:
        t = rng.integers(0, 2, (4, 5)).astype(float)
    return u, t


def _cell(got: jax.Array, want: np.ndarray) -> str:
    got = np.asarray(got, np.float64)
    if np.isnan(got).any():
        return "NaN"
    if np.isinf(got).any():
        return "Inf"
    if not np.isfinite(want).all():
        return "finite"
    scale = np.max(np.abs(want))
    return f"{np.max(np.abs(got - want)) / scale:.1e}" if scale else f"{np.max(np.abs(got)):.1e}"


def rows() -> list[dict[str, str]]:
    """One row per (pair, |u| scale): the reference is auto_grad's delta in float64."""
    out = []
    for loss, activation in PAIRS:
        kw = {"loss": loss, "activation": activation}
        naive = jax.jit(jax.grad(_naive_loss(loss, activation)))
        for scale in SCALES:
            u, t = _problem(loss, scale)
            want = np.asarray(
                ag.delta(jnp.asarray(u, jnp.float64), jnp.asarray(t, jnp.float64), **kw)
            )
            u32, t32 = jnp.asarray(u, jnp.float32), jnp.asarray(t, jnp.float32)
            fused = activation in mg.LOSSES[loss].fused
            out.append(
                {
                    "pair": f"{loss}+{activation}" + ("" if fused else " *"),
                    "|u|": f"{scale:g}",
                    "manual": _cell(mg.delta(u32, t32, **kw), want),
                    "auto": _cell(ag.delta(u32, t32, **kw), want),
                    "naive": _cell(naive(u32, t32), want),
                }
            )
    return out


def print_table() -> None:
    jax.config.update("jax_enable_x64", True)
    print(
        "delta (eq. 1) in float32 at logits u = scale * N(0, 1), targets exactly 0 and 1;\n"
        "cells: max |delta - ref| / max |ref| against auto_grad in float64, or the non-finite "
        "value\nthat came out ('finite' where the float64 reference itself is not). "
        "* = general chain rule (the others are fused by hand)"
    )
    table = rows()
    cols = list(table[0])
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols}
    for r in [dict(zip(cols, cols, strict=True)), *table]:
        print("  ".join(r[c].ljust(widths[c]) for c in cols).rstrip())
