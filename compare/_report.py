"""Leaf-by-leaf comparison of two gradient pytrees, with a diagnosis of why they differ.

This is a host-side reporting tool: it pulls both pytrees to NumPy, so call it outside jit.
"""

import dataclasses
import math
from typing import Any

import jax
import numpy as np

from compare._tolerances import Tolerance, tolerance

_HEADER = ("leaf", "shape", "dtype", "max abs err", "max rel err", "ulps", "rtol", "atol", "ok")


@dataclasses.dataclass(frozen=True)
class LeafReport:
    """How one leaf of `got` compares with the same leaf of `want`.

    - `max_abs_err`: max |got - want|.
    - `max_rel_err`: `max_abs_err` divided by the leaf's largest |want| (a norm-wise
      relative error, which stays meaningful where single elements of want are near 0).
    - `max_ulps`: `max_abs_err` in units in the last place of the leaf's largest |want|,
      counted in `dtype` (rounding shows as a few ULPs, a formula error as millions).
    - `rtol`, `atol`: the tolerance applied (see `compare.Tolerance`).
    - `diagnosis`: empty when ok, else the likeliest reason for the difference.
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    max_abs_err: float
    max_rel_err: float
    max_ulps: float
    rtol: float
    atol: float
    ok: bool
    diagnosis: str

    def row(self) -> tuple[str, ...]:
        return (
            self.path,
            str(self.shape),
            self.dtype,
            f"{self.max_abs_err:.2e}",
            f"{self.max_rel_err:.2e}",
            f"{self.max_ulps:.3g}",
            f"{self.rtol:.0e}",
            f"{self.atol:.0e}",
            "ok" if self.ok else "FAIL",
        )


@dataclasses.dataclass(frozen=True)
class GradReport:
    """The per-leaf comparison of two gradient pytrees; `ok` when every leaf is."""

    leaves: tuple[LeafReport, ...]

    @property
    def ok(self) -> bool:
        return all(leaf.ok for leaf in self.leaves)

    @property
    def max_rel_err(self) -> float:
        return max((leaf.max_rel_err for leaf in self.leaves), default=0.0)

    def __getitem__(self, path: str) -> LeafReport:
        for leaf in self.leaves:
            if leaf.path == path:
                return leaf
        raise KeyError(f"no leaf {path!r}; leaves are {[leaf.path for leaf in self.leaves]}")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "leaves": [dataclasses.asdict(leaf) for leaf in self.leaves]}

    def __str__(self) -> str:
        rows = [_HEADER, *(leaf.row() for leaf in self.leaves)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines += [f"{leaf.path}: {leaf.diagnosis}" for leaf in self.leaves if leaf.diagnosis]
        return "\n".join(lines)


def _leaves_by_path(tree: Any) -> dict[str, Any]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path).lstrip(".") or "<root>": leaf for path, leaf in flat}


def _less_precise(a: np.dtype, b: np.dtype) -> np.dtype:
    return max(a, b, key=lambda d: np.finfo(d).eps)


def _ulps(abs_err: float, scale: float, dtype: np.dtype) -> float:
    """`abs_err` in units in the last place of `scale` (the leaf's largest |want|) in `dtype`.

    Counting against the leaf's scale rather than element by element keeps the figure about
    rounding: an element that cancels to near 0 has a tiny ULP of its own, so its harmless
    absolute error would read as millions of ULPs.
    """
    return abs_err / float(np.spacing(np.asarray(scale, dtype=dtype)).astype(np.float64))


def _close(got: np.ndarray, want: np.ndarray, tol: Tolerance) -> np.ndarray:
    scale = np.max(np.abs(want), initial=0.0)
    return np.abs(got - want) <= tol.rtol * np.abs(want) + tol.atol * scale


def _factor_name(c: float, batch_size: int | None) -> str:
    """Name a constant factor got/want by the mistake that usually produces it."""
    if c == -1:
        return "sign flipped (got = -want): t - y where y - t belongs, or ascent for descent?"
    named = []
    for k in (c, 1 / c):
        if k == batch_size:
            got_did, want_did = ("summed", "averaged") if k == c else ("averaged", "summed")
            named.append(
                f"off by a factor of B = {batch_size}: got {got_did} over the batch where "
                f"want {want_did} (reduction 'mean' vs 'sum'?)"
            )
        elif k == 2:
            named.append("off by a factor of 2: the 1/2 in E = 1/2 sum_k (y_k - t_k)^2?")
        elif batch_size is None and k >= 3 and float(k).is_integer():
            named.append(
                f"off by a constant factor of {k:g}: reduction 'mean' vs 'sum' with B = {k:g}?"
            )
    if named:
        return " or ".join(named)
    return f"off by a constant factor of {c:.6g} everywhere: a scaling or normalization error"


def _diagnose(got: np.ndarray, want: np.ndarray, tol: Tolerance, batch_size: int | None) -> str:
    """The likeliest reason `got` differs from `want`; both finite and of the same shape."""
    if not np.any(got):
        return "got is zero everywhere: the gradient never reached this leaf"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and np.all(_close(got, want.T, tol)):
        return "got equals want transposed: dw should be y.T @ delta ([m, n])"
    candidates = [-1.0, 2.0, 0.5]
    if batch_size:
        candidates += [float(batch_size), 1.0 / batch_size]
    for c in candidates:
        if np.all(_close(got, c * want, tol)):
            return _factor_name(c, batch_size)
    denom = float(np.vdot(want, want))
    if denom > 0:
        c = float(np.vdot(got, want)) / denom
        k = round(c) if abs(c) >= 1 else round(1 / c) if c else 0
        for c_try in (float(k), 1.0 / k if k else 0.0, c):
            if c_try and np.all(_close(got, c_try * want, tol)):
                return _factor_name(c_try, batch_size)
    bad = ~_close(got, want, tol)
    idx = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
    where = (
        f"{int(bad.sum())} of {bad.size} elements outside tolerance; the largest error is at "
        f"{tuple(int(i) for i in idx)}: got {got[idx]:.6g}, want {want[idx]:.6g}"
    )
    significant = np.abs(want) > 1e-3 * np.max(np.abs(want))
    ratio = got[significant] / want[significant]
    if ratio.size > 1 and (np.all(ratio > 0) or np.all(ratio < 0)):
        lo, hi = float(np.min(ratio)), float(np.max(ratio))
        # A spread of a few percent or more: a real factor, not one element's slip.
        if hi - lo > 0.05 * max(abs(lo), abs(hi)):
            where += (
                f". got/want has one sign but ranges over [{lo:.4g}, {hi:.4g}]: a missing or "
                "extra per-element factor, such as the activation derivative dy/du in eq. (1)?"
            )
    return where


def _compare_leaf(
    path: str,
    got: Any,
    want: Any,
    rtol: float | None,
    atol: float | None,
    batch_size: int | None,
) -> LeafReport:
    g, w = np.asarray(got), np.asarray(want)
    dtype = _less_precise(g.dtype, w.dtype)
    tol = tolerance(dtype)
    tol = Tolerance(tol.rtol if rtol is None else rtol, tol.atol if atol is None else atol)

    def report(ok: bool, diagnosis: str, errs: tuple[float, float, float]) -> LeafReport:
        return LeafReport(
            path, tuple(w.shape), dtype.name, *errs, tol.rtol, tol.atol, ok, diagnosis
        )

    nan3 = (math.nan, math.nan, math.nan)
    if g.shape != w.shape:
        transposed = g.ndim == 2 and g.shape == w.shape[::-1]
        if transposed and np.all(_close(g.T.astype(np.float64), w.astype(np.float64), tol)):
            return report(
                False,
                f"got has shape {g.shape} and equals want transposed "
                f"{w.shape}: dw should be y.T @ delta ([m, n])",
                nan3,
            )
        return report(False, f"shape mismatch: got {g.shape}, want {w.shape}", nan3)
    g64, w64 = g.astype(np.float64), w.astype(np.float64)
    bad_g, bad_w = ~np.isfinite(g64), ~np.isfinite(w64)
    if bad_g.any() or bad_w.any():
        which = "got" if bad_g.any() else "want"
        bad = bad_g if bad_g.any() else bad_w
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kinds = "NaN" if np.isnan(g64 if which == "got" else w64).any() else "Inf"
        return report(
            False,
            f"{which} has {int(bad.sum())} non-finite value(s) ({kinds}), first at {first}",
            nan3,
        )
    abs_err = float(np.max(np.abs(g64 - w64), initial=0.0))
    scale = float(np.max(np.abs(w64), initial=0.0))
    rel_err = abs_err / scale if scale else (0.0 if abs_err == 0 else math.inf)
    errs = (abs_err, rel_err, _ulps(abs_err, scale, dtype))
    if np.all(_close(g64, w64, tol)):
        return report(True, "", errs)
    diagnosis = _diagnose(g64, w64, tol, batch_size)
    if g.dtype != w.dtype:
        diagnosis += f" (got is {g.dtype}, want is {w.dtype}; compared at {dtype.name})"
    return report(False, diagnosis, errs)


def compare_grads(
    got: Any,
    want: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    batch_size: int | None = None,
) -> GradReport:
    """Compare two gradient pytrees leaf by leaf and say why they differ.

    Leaves are matched by their path (`dw`, `[0].w`, ...), so any pytrees with the same
    leaf names compare, e.g. `OutputGrads` from manual_grad and auto_grad.

    **Arguments:**

    - `got`: the gradients under test (e.g. manual_grad's).
    - `want`: the reference (e.g. `jax.grad`'s).
    - `rtol`, `atol`: override the dtype's entry in `compare.TOLERANCES`; the dtype is the
      less precise of the two leaves'.
    - `batch_size`: B, if known, so that a factor of B is named a reduction mismatch
      rather than guessed.

    **Returns:** a `GradReport`; `str(report)` is a table plus one diagnosis line per
    failing leaf.
    """
    g_leaves, w_leaves = _leaves_by_path(got), _leaves_by_path(want)
    nan3 = (math.nan, math.nan, math.nan)
    leaves = []
    for path, w in w_leaves.items():
        if path not in g_leaves:
            w = np.asarray(w)
            tol = tolerance(w.dtype)
            leaves.append(
                LeafReport(
                    path,
                    tuple(w.shape),
                    w.dtype.name,
                    *nan3,
                    *tol,
                    False,
                    f"missing from got, whose leaves are {list(g_leaves)}",
                )
            )
            continue
        leaves.append(_compare_leaf(path, g_leaves[path], w, rtol, atol, batch_size))
    for path in g_leaves.keys() - w_leaves.keys():
        g = np.asarray(g_leaves[path])
        tol = tolerance(g.dtype)
        leaves.append(
            LeafReport(
                path,
                tuple(g.shape),
                g.dtype.name,
                *nan3,
                *tol,
                False,
                f"in got but not in want, whose leaves are {list(w_leaves)}",
            )
        )
    return GradReport(tuple(leaves))


def assert_grads_close(
    got: Any,
    want: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    batch_size: int | None = None,
) -> GradReport:
    """Raise `AssertionError` carrying the `compare_grads` report unless every leaf is ok.

    Arguments as in `compare_grads`; returns the report when it passes.
    """
    report = compare_grads(got, want, rtol=rtol, atol=atol, batch_size=batch_size)
    if not report.ok:
        failing = [leaf.path for leaf in report.leaves if not leaf.ok]
        raise AssertionError(f"gradients differ in leaves {failing}\n{report}")
    return report
