"""Training on scikit-learn's bundled data: the closed form (mg.mlp_loss inside
jax.value_and_grad) and autodiff train the same network to the same place."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest

import auto_grad as ag
import compare
import manual_grad as mg
from compare import _cli, _train


def test_short_training_decreases_the_loss_and_both_runs_agree():
    result = _train.train("breast_cancer", epochs=5, progress=False)
    for run in ("manual", "auto"):
        curve = result["curves"][run]
        assert curve[-1] < 0.5 * curve[0], curve
    assert result["max_param_diff"] < 1e-4
    np.testing.assert_allclose(result["final_loss_manual"], result["final_loss_auto"], rtol=1e-4)


@pytest.mark.parametrize("dataset", list(_train.TASKS))
def test_dataset_reaches_its_target(dataset):
    result = _train.train(dataset, progress=False)
    assert _cli.target_met(result), result
    assert result["test_metric"] == pytest.approx(result["test_metric_auto"], abs=0.01)
    assert result["max_param_diff"] < 1e-3


def test_float64_runs_agree_to_1e_9():
    result = _train.train("digits", epochs=10, x64=True, progress=False)
    assert result["dtype"] == "float64"
    assert result["max_param_diff"] <= 1e-9, result["max_param_diff"]


def test_train_command_writes_json_and_plot(tmp_path):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "compare",
            "train",
            "--dataset",
            "breast_cancer",
            "--epochs",
            "3",
            "--json",
            str(out),
            "--plot",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in (
        "final_loss_manual",
        "final_loss_auto",
        "max_param_diff",
        "test_metric",
        "baseline_metric",
        "metric",
        "seconds",
    ):
        assert key in result
    assert result["metric"] == "accuracy" and result["epochs"] == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "linear baseline" in proc.stdout and "max |param diff|" in proc.stdout
    assert "epoch" in proc.stderr  # the progress bar


def test_bad_devices_are_rejected():
    with pytest.raises(ValueError, match=r"devices must be in 1\.\.1; got 2"):
        _train.train("digits", epochs=1, devices=2, progress=False)


_SHARDED = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import manual_grad as mg, compare
    from compare import _train
    assert jax.device_count() == 4, jax.devices()

    layers = mg.init_mlp(jax.random.key(0), [8, 16, 3], hidden="tanh")
    _, x, t = compare.make_problem(np.random.default_rng(0), "ce", (32, 8, 3), "float32")
    kw = dict(hidden="tanh", loss="ce", activation="softmax")
    mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    xs, ts = (jax.device_put(a, NamedSharding(mesh, P("batch"))) for a in (x, t))
    assert len(xs.sharding.device_set) == 4
    sharded = jax.jit(lambda ls, x, t: mg.mlp_grads(ls, x, t, **kw))(layers, xs, ts)
    single = mg.mlp_grads(layers, x, t, **kw)
    compare.assert_grads_close(sharded, single)
    assert len(sharded[1].sharding.device_set) == 4  # dx stays split over the batch

    one = _train.train("digits", epochs=3, devices=1, progress=False)
    four = _train.train("digits", epochs=3, devices=4, progress=False)
    assert four["devices"] == 4
    np.testing.assert_allclose(four["final_loss_manual"], one["final_loss_manual"], rtol=1e-5)
    np.testing.assert_allclose(four["test_metric"], one["test_metric"], atol=0.005)
    print("sharded ok")
""")


def test_four_device_data_parallel_equals_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run(
        [sys.executable, "-c", _SHARDED], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0 and "sharded ok" in proc.stdout, proc.stderr


def test_cli_devices_flag_reaches_xla(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "compare",
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--devices",
            "4",
            "--quiet",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["devices"] == 4


def test_value_and_grad_of_mlp_loss_in_an_optax_loop_matches_autodiff():
    layers = mg.init_mlp(jax.random.key(1), [6, 8, 2], hidden="relu")
    _, x, t = compare.make_problem(np.random.default_rng(1), "bce", (16, 6, 2), "float32")
    kw = {"hidden": "relu", "loss": "bce", "activation": "sigmoid"}
    opt = optax.adam(1e-2)

    def run(loss_fn):
        params, state = layers, opt.init(layers)

        @jax.jit
        def step(params, state):
            value, grads = jax.value_and_grad(loss_fn)(params, x, t, **kw)
            updates, state = opt.update(grads, state)
            return optax.apply_updates(params, updates), state, value

        for _ in range(20):
            params, state, value = step(params, state)
        return params, value

    (p_mg, v_mg), (p_ag, _) = run(mg.mlp_loss), run(ag.mlp_loss)
    compare.assert_grads_close(p_mg, p_ag, rtol=1e-4, atol=1e-5)
    assert v_mg < mg.mlp_loss(layers, x, t, **kw)
