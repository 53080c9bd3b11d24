"""`python -m compare train`: the closed form and jax.grad train the same network on real data.

Two runs from one initialization: one takes `jax.value_and_grad(mg.mlp_loss)` (whose backward
pass is the notes' closed form), the other `jax.value_and_grad(ag.mlp_loss)` (autodiff). Both
use optax adam, the same mini-batches in the same order, and one jit-compiled epoch (a
`lax.scan` over the steps). Data come bundled with scikit-learn: nothing is downloaded.
"""

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import auto_grad as ag
import manual_grad as mg


@dataclasses.dataclass(frozen=True)
class Task:
    """A dataset with its natural output pair and a network and schedule that suit it."""

    loader: str
    loss: str
    activation: str
    metric: str
    hidden_sizes: tuple[int, ...]
    hidden: str
    epochs: int
    learning_rate: float
    weight_decay: float
    batch_size: int


TASKS: dict[str, Task] = {
    "digits": Task(
        "load_digits",
        "ce",
        "softmax",
        "accuracy",
        (64,),
        "tanh",
        epochs=30,
        learning_rate=3e-3,
        weight_decay=1e-4,
        batch_size=64,
    ),
    "breast_cancer": Task(
        "load_breast_cancer",
        "bce",
        "sigmoid",
        "accuracy",
        (16,),
        "tanh",
        epochs=30,
        learning_rate=3e-3,
        weight_decay=1e-2,
        batch_size=32,
    ),
    # 331 noisy samples with a mostly linear signal: a narrow network and strong weight
    # decay (and early stopping, as for all) keep it near the linear baseline instead of
    # fitting the noise.
    "diabetes": Task(
        "load_diabetes",
        "mse",
        "identity",
        "r2",
        (8,),
        "tanh",
        epochs=100,
        learning_rate=3e-3,
        weight_decay=1.0,
        batch_size=32,
    ),
}


def _sklearn() -> Any:
    try:
        import sklearn.datasets
        import sklearn.linear_model
        import sklearn.model_selection
        import sklearn.preprocessing
    except ImportError as e:
        raise SystemExit(
            "python -m compare train needs scikit-learn: pip install 'backprop-ref[train]'"
        ) from e
    import sklearn

    return sklearn


@dataclasses.dataclass(frozen=True)
class Data:
    x_train: np.ndarray
    t_train: np.ndarray
    x_val: np.ndarray
    t_val: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    baseline: float


def load(name: str, task: Task, seed: int) -> Data:
    """Standardized features, a fixed-seed 75/25 train/test split, the targets the loss
    expects, and scikit-learn's linear model fitted on the same split for scale. A fifth of
    the training part is held out as validation data, for choosing when to stop."""
    sk = _sklearn()
    x, y = getattr(sk.datasets, task.loader)(return_X_y=True)
    classify = task.metric == "accuracy"
    x_tr, x_te, y_tr, y_te = sk.model_selection.train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y if classify else None
    )
    scaler = sk.preprocessing.StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    if task.loss == "ce":
        classes = int(y.max()) + 1
        t_tr, t_te = np.eye(classes)[y_tr], np.eye(classes)[y_te]
    elif task.loss == "bce":
        t_tr, t_te = y_tr[:, None].astype(float), y_te[:, None].astype(float)
    else:  # regression on a standardized target; R^2 is unchanged by that affine map
        mu, sd = y_tr.mean(), y_tr.std()
        t_tr, t_te = ((y_tr - mu) / sd)[:, None], ((y_te - mu) / sd)[:, None]
    if classify:
        model = sk.linear_model.LogisticRegression(max_iter=5000).fit(x_tr, y_tr)
        baseline = float(model.score(x_te, y_te))
    else:
        baseline = float(sk.linear_model.LinearRegression().fit(x_tr, y_tr).score(x_te, y_te))
    fit, val = sk.model_selection.train_test_split(
        np.arange(len(x_tr)), test_size=0.2, random_state=seed, stratify=y_tr if classify else None
    )
    return Data(x_tr[fit], t_tr[fit], x_tr[val], t_tr[val], x_te, t_te, baseline)


def metric(task: Task, out: np.ndarray, t: np.ndarray) -> float:
    """Accuracy for classification, R^2 for regression, from the network's outputs."""
    if task.metric == "r2":
        return float(1 - np.sum((t - out) ** 2) / np.sum((t - t.mean()) ** 2))
    if task.loss == "bce":
        return float(np.mean((out[:, 0] > 0.5) == (t[:, 0] > 0.5)))
    return float(np.mean(out.argmax(axis=1) == t.argmax(axis=1)))


def make_epoch(
    loss_fn: Callable[..., jax.Array], opt: optax.GradientTransformation
) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """One jit-compiled epoch: a scan of adam steps over stacked batches `[S, bs, ...]`."""

    def step(carry: tuple, batch: tuple) -> tuple[tuple, jax.Array]:
        layers, state = carry
        value, grads = jax.value_and_grad(loss_fn)(layers, *batch)
        updates, state = opt.update(grads, state, layers)
        return (optax.apply_updates(layers, updates), state), value

    @jax.jit
    def epoch(layers: list, state: Any, xs: jax.Array, ts: jax.Array) -> tuple:
        (layers, state), values = jax.lax.scan(step, (layers, state), (xs, ts))
        return layers, state, values.mean()

    return epoch


def train(
    name: str,
    *,
    epochs: int | None = None,
    seed: int = 0,
    x64: bool = False,
    devices: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the dataset's network twice (closed form, autodiff) and report both.

    The parameters kept are those of the epoch with the lowest validation loss (of the
    closed-form run, applied to both runs); the final losses are training losses there.

    With `devices` > 1 each batch is split over that many devices along its batch axis
    (a `NamedSharding`; XLA inserts the gradient all-reduce), parameters replicated.
    """
    task = TASKS[name]
    epochs = task.epochs if epochs is None else epochs
    if devices < 1 or devices > jax.device_count():
        raise ValueError(f"devices must be in 1..{jax.device_count()}; got {devices}")
    if task.batch_size % devices:
        raise ValueError(
            f"devices must divide the batch size {task.batch_size} of {name}; got {devices}"
        )
    dtype = jnp.float64 if x64 else jnp.float32
    data = load(name, task, seed)
    sizes = [data.x_train.shape[1], *task.hidden_sizes, data.t_train.shape[1]]
    init = mg.init_mlp(jax.random.key(seed), sizes, hidden=task.hidden, dtype=dtype)
    config = {"hidden": task.hidden, "loss": task.loss, "activation": task.activation}
    opt = optax.adamw(task.learning_rate, weight_decay=task.weight_decay)
    runs = {
        "manual": make_epoch(functools.partial(mg.mlp_loss, **config), opt),
        "auto": make_epoch(functools.partial(ag.mlp_loss, **config), opt),
    }
    mesh = jax.make_mesh((devices,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    batched = NamedSharding(mesh, P(None, "batch"))
    replicated = NamedSharding(mesh, P())
    state = {k: (jax.device_put(init, replicated), None) for k in runs}
    state = {k: (layers, opt.init(layers)) for k, (layers, _) in state.items()}
    x_full, t_full = (jnp.asarray(a, dtype) for a in (data.x_train, data.t_train))
    x_val, t_val = (jnp.asarray(a, dtype) for a in (data.x_val, data.t_val))
    rng = np.random.default_rng(seed)
    steps = len(data.x_train) // task.batch_size
    curves: dict[str, list[float]] = {k: [] for k in runs}
    val_curve: list[float] = []
    best, best_epoch = {k: state[k][0] for k in runs}, 0
    bar = _progress(epochs, name, enabled=progress)
    start = time.perf_counter()
    for epoch_index in range(1, epochs + 1):
        order = rng.permutation(len(data.x_train))[: steps * task.batch_size]
        xs = x_full[order].reshape(steps, task.batch_size, -1)
        ts = t_full[order].reshape(steps, task.batch_size, -1)
        xs, ts = jax.device_put(xs, batched), jax.device_put(ts, batched)
        for k, epoch in runs.items():
            layers, opt_state = state[k]
            layers, opt_state, value = epoch(layers, opt_state, xs, ts)
            state[k] = (layers, opt_state)
            curves[k].append(float(value))
        # Early stopping on the closed-form run's validation loss; both runs keep the
        # parameters of the same epoch, so that they stay comparable.
        val_curve.append(float(mg.mlp_loss(state["manual"][0], x_val, t_val, **config)))
        if val_curve[-1] <= min(val_curve):
            best, best_epoch = {k: state[k][0] for k in runs}, epoch_index
        bar.update(1)
        bar.set_postfix({k: f"{curves[k][-1]:.4f}" for k in runs})
    bar.close()
    seconds = time.perf_counter() - start
    final = {k: float(mg.mlp_loss(best[k], x_full, t_full, **config)) for k in runs}
    x_test = jnp.asarray(data.x_test, dtype)
    forward = functools.partial(mg.mlp_forward, hidden=task.hidden, activation=task.activation)
    test = {k: metric(task, np.asarray(forward(best[k], x_test)), data.t_test) for k in runs}
    diffs = jax.tree.map(lambda a, b: jnp.max(jnp.abs(a - b)), best["manual"], best["auto"])
    return {
        "dataset": name,
        "pair": f"{task.loss}+{task.activation}",
        "sizes": sizes,
        "hidden": task.hidden,
        "epochs": epochs,
        "dtype": jnp.dtype(dtype).name,
        "devices": devices,
        "metric": task.metric,
        "test_metric": test["manual"],
        "test_metric_auto": test["auto"],
        "baseline_metric": data.baseline,
        "final_loss_manual": final["manual"],
        "final_loss_auto": final["auto"],
        "max_param_diff": float(max(jax.tree.leaves(diffs))),
        "best_epoch": best_epoch,
        "seconds": seconds,
        "curves": curves,
        "val_curve": val_curve,
    }


class _Quiet:
    def update(self, n: int) -> None: ...
    def set_postfix(self, values: dict[str, str]) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, name: str, *, enabled: bool) -> Any:
    if not enabled:
        return _Quiet()
    try:
        from tqdm import tqdm
    except ImportError as e:
        raise SystemExit("the progress bar needs tqdm: pip install 'backprop-ref[train]'") from e
    return tqdm(total=total, desc=f"{name} epochs", unit="epoch")


def plot(result: dict[str, Any], path: str) -> None:
    """Write a PNG of both runs' per-epoch training loss, the validation loss, and the
    epoch kept."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit("--plot needs matplotlib: pip install 'backprop-ref[train]'") from e
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, result["epochs"] + 1)
    ax.plot(epochs, result["curves"]["manual"], label="closed form (mg.mlp_loss)", lw=3, alpha=0.6)
    ax.plot(epochs, result["curves"]["auto"], label="jax.grad (ag.mlp_loss)", ls="--", c="k")
    ax.plot(epochs, result["val_curve"], label="validation (closed form)", ls=":", c="tab:red")
    ax.axvline(result["best_epoch"], c="gray", lw=0.8, label=f"kept: epoch {result['best_epoch']}")
    ax.set(
        xlabel="epoch",
        ylabel=f"loss ({result['pair']})",
        title=f"{result['dataset']}: {result['sizes']} {result['hidden']}, {result['dtype']}",
    )
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
