"""`python -m compare`: manual_grad against jax.grad, and the subcommands built on it.

- no subcommand: one row per (loss, activation) pair x dtype x shape, then networks of depth
  2-4, with the largest relative error of every quantity (both reductions), pass/fail, and
  the time of manual_grad next to jax.grad's. Exits 0 only if every row passes.
- `train`: the closed form and jax.grad train the same network on a scikit-learn dataset.
- `bench`: time and memory of the closed forms against autodiff, side by side.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
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
from compare._problems import make_network, make_problem
from compare._report import GradReport, compare_grads
from compare._tolerances import tolerance

SHAPES: tuple[tuple[int, int, int], ...] = ((1, 3, 1), (8, 16, 4), (128, 64, 10))
"""(B, m, n) per output-layer row: one example and one output, a small batch, a wider layer."""

DTYPES = ("float32", "float64")

NETWORKS: tuple[tuple[tuple[int, ...], str, str, str], ...] = tuple(
    (sizes, hidden, loss, activation)
    for sizes, (loss, activation) in zip(
        ((6, 8, 3), (6, 8, 7, 3), (6, 8, 7, 5, 3)),
        (("ce", "softmax"), ("bce", "sigmoid"), ("mse", "identity")),
        strict=True,
    )
    for hidden in ("sigmoid", "tanh", "relu")
)
"""(sizes, hidden, loss, activation) per network row: depths 2-4 x three hidden activations."""

NETWORK_BATCH = 16


def _layer_quantities(lib: Any, loss: str, activation: str) -> Callable[..., dict]:
    """One jitted function: loss, delta and gradients of an output layer, both reductions."""

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


def _network_quantities(lib: Any, hidden: str, loss: str, activation: str) -> Callable:
    """One jitted function: a network's loss, `mlp_grads`, and `jax.grad` of its `mlp_loss`
    (for manual_grad, the closed-form custom_vjp), both reductions. For auto_grad the last
    two are the same autodiff, so it is computed once and used for both."""

    def run(layers: list[mg.Dense], x: jax.Array, t: jax.Array) -> dict:
        out = {}
        for r in ("mean", "sum"):
            kw = {"hidden": hidden, "loss": loss, "activation": activation, "reduction": r}
            grad_of_loss = jax.grad(lib.mlp_loss, argnums=(0, 1))(layers, x, t, **kw)
            out[r] = {
                "loss": lib.mlp_loss(layers, x, t, **kw),
                "mlp_grads": lib.mlp_grads(layers, x, t, **kw) if lib is mg else grad_of_loss,
                "grad_of_loss": grad_of_loss,
            }
        return out

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


@dataclasses.dataclass
class Case:
    """One row of the table: what it describes, and manual/auto functions of `args`."""

    info: dict
    manual: Callable
    auto: Callable
    args: tuple
    batch_size: int
    dtype: str

    def compile(self) -> "Case":
        """Compile both functions ahead of time (safe to run on a worker thread)."""
        manual, auto = (f.lower(*self.args).compile() for f in (self.manual, self.auto))
        return dataclasses.replace(self, manual=manual, auto=auto)

    def check(self, reps: int) -> tuple[dict, GradReport]:
        """Compare the two results and time both, one after the other."""
        report = compare_grads(
            self.manual(*self.args), self.auto(*self.args), batch_size=self.batch_size
        )
        t_manual = _median_seconds(lambda: self.manual(*self.args), reps)
        t_auto = _median_seconds(lambda: self.auto(*self.args), reps)
        return {
            **self.info,
            "dtype": self.dtype,
            "max_rel_err": report.max_rel_err,
            "max_ulps": max(leaf.max_ulps for leaf in report.leaves),
            "rtol": tolerance(self.dtype).rtol,
            "ok": report.ok,
            "manual_us": 1e6 * t_manual,
            "jax_grad_us": 1e6 * t_auto,
            "time_ratio": t_manual / t_auto,
        }, report


def layer_case(
    loss: str, activation: str, dtype: str, shape: tuple[int, int, int], *, seed: int
) -> Case:
    """manual_grad vs auto_grad on one output layer (pair, dtype, shape)."""
    params, y, t = make_problem(np.random.default_rng(seed), loss, shape, dtype)
    info = {"kind": "layer", "loss": loss, "activation": activation, "shape": list(shape)}
    return Case(
        info,
        _layer_quantities(mg, loss, activation),
        _layer_quantities(ag, loss, activation),
        (params, y, t),
        shape[0],
        dtype,
    )


def network_case(
    sizes: tuple[int, ...], hidden: str, loss: str, activation: str, dtype: str, *, seed: int
) -> Case:
    """manual_grad vs auto_grad on one network (sizes, hidden, pair, dtype)."""
    layers, x, t = make_network(np.random.default_rng(seed), loss, sizes, NETWORK_BATCH, dtype)
    info = {
        "kind": "network",
        "hidden": hidden,
        "loss": loss,
        "activation": activation,
        "sizes": list(sizes),
        "shape": [NETWORK_BATCH, *sizes],
    }
    return Case(
        info,
        _network_quantities(mg, hidden, loss, activation),
        _network_quantities(ag, hidden, loss, activation),
        (layers, x, t),
        NETWORK_BATCH,
        dtype,
    )


def _case(r: dict) -> str:
    pair = f"{r['loss']}+{r['activation']}"
    if r["kind"] == "network":
        return f"{len(r['sizes']) - 1}L {r['hidden']} {pair}"
    return pair


_COLUMNS = (
    ("case", 24, _case),
    ("dtype", 8, lambda r: r["dtype"]),
    ("B,sizes", 13, lambda r: ",".join(map(str, r["shape"]))),
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


def _cases(seed: int) -> list[Case]:
    cases = []
    for loss, activation in mg.PAIRS:
        for dtype in DTYPES:
            for shape in SHAPES:
                try:
                    check_output_width(loss, activation, shape[2])
                except ValueError as e:
                    print(f"skip {loss}+{activation} {dtype} {shape}: {e}")
                    continue
                cases.append(layer_case(loss, activation, dtype, shape, seed=seed))
    for sizes, hidden, loss, activation in NETWORKS:
        for dtype in DTYPES:
            cases.append(network_case(sizes, hidden, loss, activation, dtype, seed=seed))
    return cases


def run_check(args: argparse.Namespace) -> int:
    if args.stress:
        from compare import _stress

        _stress.print_table()
        return 0
    jax.config.update("jax_enable_x64", True)
    device = jax.devices()[0]
    print(
        f"manual_grad vs jax.grad; jax {jax.__version__} on {device.platform} "
        f"({device.device_kind})\n"
        "output layers: loss, delta (eq. 1), dw, db, dy (eqs. 2-4); networks (2-4 layers): "
        "loss, mlp_grads, and jax.grad of mlp_loss (the closed-form custom_vjp); all under "
        "reductions mean and sum\n"
        "max rel err: max |manual - jax.grad| / max |jax.grad| over all leaves; "
        "times: median of one jitted call that computes all of them"
    )
    start = time.perf_counter()
    # XLA compilation dominates the run time, and compiling is safe on threads: compile
    # every case first, in parallel, then check and time them one at a time, undisturbed.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        cases = list(pool.map(Case.compile, _cases(args.seed)))
    print(f"compiled {2 * len(cases)} functions in {time.perf_counter() - start:.1f} s")
    print(_format_row([name for name, _, _ in _COLUMNS]))
    rows, failures = [], []
    for case in cases:
        row, report = case.check(args.reps)
        rows.append({**row, "report": report.to_dict()})
        print(_format_row([fmt(row) for _, _, fmt in _COLUMNS]), flush=True)
        if not report.ok:
            failures.append(report)
            print(report)
    geomean = float(np.exp(np.mean(np.log([r["time_ratio"] for r in rows]))))
    seconds = time.perf_counter() - start
    print(
        f"{len(rows) - len(failures)}/{len(rows)} rows pass; manual/jax.grad time geomean "
        f"{geomean:.2f}; {seconds:.1f} s"
    )
    if args.json:
        _write_json(
            args.json,
            {
                "ok": not failures,
                "rows": rows,
                "time_ratio_geomean": geomean,
                "seconds": seconds,
                "device": str(device),
                "jax": jax.__version__,
            },
        )
    return 0 if not failures else 1


def _write_json(path: str, payload: dict) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"wrote {path}")


_TARGETS = {
    "digits": "accuracy >= 0.95",
    "breast_cancer": "accuracy >= 0.94",
    "diabetes": "R^2 no more than 0.05 below the linear baseline",
}


def target_met(result: dict) -> bool:
    """The project's stated target for the dataset (see `_TARGETS`)."""
    if result["dataset"] == "diabetes":
        return result["test_metric"] >= result["baseline_metric"] - 0.05
    return result["test_metric"] >= {"digits": 0.95, "breast_cancer": 0.94}[result["dataset"]]


def run_train(args: argparse.Namespace) -> int:
    from compare import _train

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    result = _train.train(
        args.dataset,
        epochs=args.epochs,
        seed=args.seed,
        x64=args.x64,
        devices=args.devices,
        progress=not args.quiet,
    )
    m = result
    baseline = "LogisticRegression" if m["metric"] == "accuracy" else "LinearRegression"
    print(
        f"{m['dataset']}: sizes {m['sizes']}, hidden {m['hidden']}, {m['pair']}, {m['dtype']}, "
        f"{m['epochs']} epochs (kept epoch {m['best_epoch']}, lowest validation loss), "
        f"{m['devices']} device(s), adamw\n"
        f"  {'test ' + m['metric']:<18} {m['test_metric']:.4f} closed form   "
        f"{m['test_metric_auto']:.4f} jax.grad\n"
        f"  {'linear baseline':<18} {m['baseline_metric']:.4f} ({baseline}, same split)\n"
        f"  {'final train loss':<18} {m['final_loss_manual']:.6g} closed form   "
        f"{m['final_loss_auto']:.6g} jax.grad\n"
        f"  {'max |param diff|':<18} {m['max_param_diff']:.2e} between the two runs\n"
        f"  {'seconds':<18} {m['seconds']:.1f} (both runs)\n"
        f"  {'target':<18} {_TARGETS[m['dataset']]}: {'met' if target_met(m) else 'MISSED'}"
    )
    if args.json:
        _write_json(args.json, result)
    if args.plot:
        _train.plot(result, args.plot)
        print(f"wrote {args.plot}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from compare import _bench

    plan = _bench.QUICK if args.quick else _bench.FULL
    device = jax.devices()[0]
    print(
        f"benchmarks ({'quick' if args.quick else 'full'}); jax {jax.__version__} on "
        f"{device.platform} ({device.device_kind}), {os.cpu_count()} CPU cores; float32; "
        f"times are the fastest of {plan.reps} runs of compiled functions, timed in alternating "
        "blocks"
    )
    results: list[_bench.Result] = []
    start = time.perf_counter()
    with tqdm(plan.steps(), unit="bench") as bar:
        for label, step in bar:
            bar.set_description(label)
            results += step()
    results.append(_bench.geomean_row(results))
    seconds = time.perf_counter() - start
    header = ("", "what", "vs", "shape", "value", "baseline", "ratio", "target", "")
    rows = [header] + [
        (
            r.group,
            r.what,
            r.baseline,
            r.shape,
            "" if r.what_value != r.what_value else f"{r.what_value:.3g} {r.unit}",
            "" if r.baseline_value != r.baseline_value else f"{r.baseline_value:.3g} {r.unit}",
            f"{r.ratio:.3g}",
            r.target,
            {True: "met", False: "MISSED", None: ""}[r.met],
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    missed = [r for r in results if r.met is False]
    print(
        f"{sum(r.met is True for r in results)} targets met, {len(missed)} missed; {seconds:.1f} s"
    )
    if args.json:
        _write_json(
            args.json,
            {
                "quick": args.quick,
                "device": str(device),
                "jax": jax.__version__,
                "cpu_cores": os.cpu_count(),
                "seconds": seconds,
                "results": [dataclasses.asdict(r) for r in results],
            },
        )
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compare",
        description="Check manual_grad's closed-form gradients against jax.grad for every "
        "(loss, activation) pair and for networks, in float32 and float64.",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--reps", type=_positive_int, default=5, help="timing repetitions")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random problems")
    parser.add_argument(
        "--stress",
        action="store_true",
        help="instead: delta at extreme logits (|u| up to 1e4, float32) for manual, auto and "
        "naive autodiff, showing where each gives NaN/Inf",
    )
    parser.set_defaults(func=run_check)
    sub = parser.add_subparsers(title="subcommands", metavar="{train,bench}")
    train = sub.add_parser(
        "train",
        help="train one network twice (closed form, jax.grad) on a scikit-learn dataset",
        description="Train the dataset's network from one initialization twice: with "
        "jax.value_and_grad(mg.mlp_loss) (the closed form) and with auto_grad (jax.grad). "
        "Needs the 'train' extra: pip install 'backprop-ref[train]'.",
    )
    train.add_argument("--dataset", required=True, choices=list(_TARGETS))
    train.add_argument("--epochs", type=_positive_int, help="default: the dataset's own")
    train.add_argument("--seed", type=int, default=0, help="split, init and batch order")
    train.add_argument("--x64", action="store_true", help="train in float64")
    train.add_argument(
        "--devices",
        type=_positive_int,
        default=1,
        help="data-parallel over N devices (on CPU, N host devices)",
    )
    train.add_argument("--json", metavar="PATH", help="write the results as JSON")
    train.add_argument("--plot", metavar="PATH", help="write a PNG of both loss curves")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)
    bench = sub.add_parser(
        "bench",
        help="time and memory of the closed forms against autodiff, side by side",
        description="Measure, in one process: (a) output-layer grads vs jit(grad) and vs "
        "their matmuls; (b) closed-form per-example gradient norms vs vmap(grad); (c) the "
        "clipped DP-SGD gradient vs plain mlp_grads; (d) the fused linear+cross-entropy vs "
        "jax.grad through optax.",
    )
    bench.add_argument("--quick", action="store_true", help="smaller shapes (under 40 s)")
    bench.add_argument("--json", metavar="PATH", help="write the results as JSON")
    bench.set_defaults(func=run_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
