"""`python -m compare`: manual_grad against jax.grad over every (loss, activation) pair.

Prints one row per pair x dtype x shape with the largest relative error of the loss, delta
and gradients (both reductions), pass/fail, and the time of manual_grad next to jax.grad's.
Exits 0 only if every row passes.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

import auto_grad as ag
import manual_grad as mg
from backprop_ref import check_output_width
from compare._problems import make_problem
from compare._report import GradReport, compare_grads
from compare._tolerances import tolerance

SHAPES: tuple[tuple[int, int, int], ...] = ((1, 3, 1), (8, 16, 4), (128, 64, 10))
"""(B, m, n) per row: a single example with a single output, a small batch, a wider layer."""

DTYPES = ("float32", "float64")


def _all_quantities(lib: Any, loss: str, activation: str) -> Callable[..., dict]:
    """One jitted function returning loss, delta and gradients for both reductions."""

    def run(params: mg.Dense, y: jax.Array, t: jax.Array) -> dict:
        u = y @ params.w + params.b
        kw = {"loss": loss, "activation": activation}
        return {
            r: {
                "loss": lib.loss(params, y, t, reduction=r, **kw),
                "delta": lib.delta(u, t, reduction=r, **kw),
                "grads": lib.output_layer_grads(params, y, t, reduction=r, **kw),
            }
            for r in ("mean", "sum")
        }

    return jax.jit(run)


def _median_seconds(fn: Callable[[], Any], reps: int, inner: int = 10) -> float:
    jax.block_until_ready(fn())
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            out = fn()
        jax.block_until_ready(out)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def check_row(
    loss: str, activation: str, dtype: str, shape: tuple[int, int, int], *, reps: int, seed: int
) -> tuple[dict, GradReport]:
    """Compare manual_grad with auto_grad on one (pair, dtype, shape), and time both."""
    params, y, t = make_problem(np.random.default_rng(seed), loss, shape, dtype)
    manual, auto = _all_quantities(mg, loss, activation), _all_quantities(ag, loss, activation)
    report = compare_grads(manual(params, y, t), auto(params, y, t), batch_size=shape[0])
    t_manual = _median_seconds(lambda: manual(params, y, t), reps)
    t_auto = _median_seconds(lambda: auto(params, y, t), reps)
    row = {
        "loss": loss,
        "activation": activation,
        "dtype": dtype,
        "shape": list(shape),
        "max_rel_err": report.max_rel_err,
        "max_ulps": max(leaf.max_ulps for leaf in report.leaves),
        "rtol": tolerance(dtype).rtol,
        "ok": report.ok,
        "manual_us": 1e6 * t_manual,
        "jax_grad_us": 1e6 * t_auto,
        "time_ratio": t_manual / t_auto,
    }
    return row, report


_COLUMNS = (
    ("pair", 15, lambda r: f"{r['loss']}+{r['activation']}"),
    ("dtype", 8, lambda r: r["dtype"]),
    ("B,m,n", 11, lambda r: ",".join(map(str, r["shape"]))),
    ("max rel err", 11, lambda r: f"{r['max_rel_err']:.1e}"),
    ("ulps", 6, lambda r: f"{r['max_ulps']:.3g}"),
    ("rtol", 6, lambda r: f"{r['rtol']:.0e}"),
    ("ok", 4, lambda r: "ok" if r["ok"] else "FAIL"),
    ("manual us", 9, lambda r: f"{r['manual_us']:.1f}"),
    ("jax.grad us", 11, lambda r: f"{r['jax_grad_us']:.1f}"),
    ("ratio", 5, lambda r: f"{r['time_ratio']:.2f}"),
)


def _format_row(cells: Sequence[str]) -> str:
    return "  ".join(
        c.rjust(w) if i > 2 else c.ljust(w)
        for i, (c, (_, w, _)) in enumerate(zip(cells, _COLUMNS, strict=True))
    )


def run_check(args: argparse.Namespace) -> int:
    jax.config.update("jax_enable_x64", True)
    device = jax.devices()[0]
    print(
        f"manual_grad vs jax.grad: loss, delta (eq. 1), dw, db, dy (eqs. 2-4), "
        f"reductions mean and sum; jax {jax.__version__} on {device.platform} "
        f"({device.device_kind})"
    )
    print(
        "max rel err: max |manual - jax.grad| / max |jax.grad| over all leaves; "
        "times: median of one jitted call that computes all of them"
    )
    print(_format_row([name for name, _, _ in _COLUMNS]))
    rows, failures, start = [], [], time.perf_counter()
    for loss, activation in mg.PAIRS:
        for dtype in DTYPES:
            for shape in SHAPES:
                try:
                    check_output_width(loss, activation, shape[2])
                except ValueError as e:
                    print(f"skip {loss}+{activation} {dtype} {shape}: {e}")
                    continue
                row, report = check_row(
                    loss, activation, dtype, shape, reps=args.reps, seed=args.seed
                )
                rows.append({**row, "report": report.to_dict()})
                print(_format_row([fmt(row) for _, _, fmt in _COLUMNS]), flush=True)
                if not report.ok:
                    failures.append(report)
                    print(report)
    ratios = [r["time_ratio"] for r in rows]
    geomean = float(np.exp(np.mean(np.log(ratios))))
    seconds = time.perf_counter() - start
    print(
        f"{len(rows) - len(failures)}/{len(rows)} rows pass; manual/jax.grad time geomean "
        f"{geomean:.2f}; {seconds:.1f} s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "ok": not failures,
                    "rows": rows,
                    "time_ratio_geomean": geomean,
                    "seconds": seconds,
                    "device": str(device),
                    "jax": jax.__version__,
                },
                f,
                indent=2,
            )
        print(f"wrote {args.json}")
    return 0 if not failures else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compare",
        description="Check manual_grad's closed-form gradients against jax.grad for every "
        "(loss, activation) pair in float32 and float64.",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--reps", type=int, default=5, help="timing repetitions per row")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random problems")
    parser.set_defaults(func=run_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.reps < 1:
        build_parser().error(f"--reps must be >= 1; got {args.reps}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
