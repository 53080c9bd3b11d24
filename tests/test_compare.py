"""compare must pass true gradients and catch, and name, every usual way of getting them wrong."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import auto_grad as ag
import compare
import manual_grad as mg

B = 6


def _truth(dtype="float64", loss="mse", activation="sigmoid", shape=(B, 5, 4)):
    params, y, t = compare.make_problem(np.random.default_rng(0), loss, shape, dtype)
    kw = {"loss": loss, "activation": activation}
    return params, y, t, ag.output_layer_grads(params, y, t, **kw)


def _grads_from_delta(params, y, delta):
    return mg.OutputGrads(dw=y.T @ delta, db=delta.sum(0), dy=delta @ params.w.T)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_true_gradients_pass(dtype):
    params, y, t, want = _truth(dtype)
    got = mg.output_layer_grads(params, y, t, loss="mse", activation="sigmoid")
    report = compare.assert_grads_close(got, want)
    assert report.ok and [leaf.path for leaf in report.leaves] == ["dw", "db", "dy"]
    assert all(leaf.diagnosis == "" for leaf in report.leaves)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_missing_activation_derivative_is_caught(dtype):
    params, y, t, want = _truth(dtype)
    out = jax.nn.sigmoid(y @ params.w + params.b)
    got = _grads_from_delta(params, y, (out - t) / B)  # eq. (1) without dy/du
    with pytest.raises(AssertionError, match="gradients differ in leaves") as e:
        compare.assert_grads_close(got, want)
    assert "activation derivative" in str(e.value)


@pytest.mark.parametrize("given_b", [True, False])
def test_forgotten_one_over_b_is_named_a_reduction_problem(given_b):
    params, y, t, want = _truth()
    got = mg.output_layer_grads(params, y, t, loss="mse", activation="sigmoid", reduction="sum")
    report = compare.compare_grads(got, want, batch_size=B if given_b else None)
    assert not report.ok
    for leaf in report.leaves:
        assert "reduction 'mean' vs 'sum'" in leaf.diagnosis, leaf.diagnosis
        assert f"{B}" in leaf.diagnosis
    with pytest.raises(AssertionError, match="reduction 'mean' vs 'sum'"):
        compare.assert_grads_close(got, want, batch_size=B)


def test_divided_by_b_twice_is_named_too():
    *_, want = _truth()
    got = jax.tree.map(lambda g: g / B, want)
    report = compare.compare_grads(got, want, batch_size=B)
    assert "got averaged over the batch where want summed" in report["dw"].diagnosis


def test_transposed_dw_is_caught():
    *_, want = _truth()
    report = compare.compare_grads(want._replace(dw=want.dw.T), want)
    assert not report.ok and report["db"].ok and report["dy"].ok
    assert "transposed" in report["dw"].diagnosis

    # A square layer: the shapes match, the values do not.
    *_, want = _truth(shape=(B, 4, 4))
    report = compare.compare_grads(want._replace(dw=want.dw.T), want)
    assert not report["dw"].ok and "transposed" in report["dw"].diagnosis


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("where", ["everywhere", "one element"])
def test_a_tenth_of_a_percent_error_is_caught(dtype, where):
    *_, want = _truth(dtype)
    dw = want.dw * 1.001 if where == "everywhere" else want.dw.at[1, 2].multiply(1.001)
    with pytest.raises(AssertionError, match=r"leaves \['dw'\]"):
        compare.assert_grads_close(want._replace(dw=dw), want)


def test_nan_and_inf_are_caught():
    *_, want = _truth()
    report = compare.compare_grads(want._replace(db=want.db.at[2].set(jnp.nan)), want)
    assert (
        not report["db"].ok and "NaN" in report["db"].diagnosis and "(2,)" in report["db"].diagnosis
    )
    report = compare.compare_grads(want._replace(dy=want.dy.at[0, 0].set(jnp.inf)), want)
    assert not report["dy"].ok and "Inf" in report["dy"].diagnosis
    # A NaN in the reference is no pass either.
    report = compare.compare_grads(want, want._replace(dw=want.dw.at[0, 0].set(jnp.nan)))
    assert not report.ok and "want has 1 non-finite" in report["dw"].diagnosis


@pytest.mark.parametrize(
    ("factor", "phrase"),
    [(-1.0, "sign flipped"), (2.0, "factor of 2"), (0.5, "factor of 2"), (1.3, "1.3")],
)
def test_constant_factors_are_named(factor, phrase):
    *_, want = _truth()
    report = compare.compare_grads(jax.tree.map(lambda g: factor * g, want), want)
    assert not report.ok
    assert all(phrase in leaf.diagnosis for leaf in report.leaves), report


def test_zero_gradient_is_named():
    *_, want = _truth()
    report = compare.compare_grads(want._replace(db=jnp.zeros_like(want.db)), want)
    assert "zero everywhere" in report["db"].diagnosis


def test_shape_and_structure_mismatches():
    *_, want = _truth()
    report = compare.compare_grads(want._replace(db=want.db[:2]), want)
    assert "shape mismatch: got (2,), want (4,)" in report["db"].diagnosis
    report = compare.compare_grads({"dw": want.dw}, {"dw": want.dw, "db": want.db})
    assert not report.ok and "missing from got" in report["['db']"].diagnosis
    report = compare.compare_grads({"dw": want.dw, "extra": want.db}, {"dw": want.dw})
    assert not report.ok and "not in want" in report["['extra']"].diagnosis


def test_lists_of_layers_compare_by_path():
    *_, want = _truth()
    layers = [mg.Dense(want.dw, want.db), mg.Dense(2 * want.dw, want.db)]
    broken = [layers[0], mg.Dense(layers[1].w, layers[1].b * 1.01)]
    report = compare.compare_grads(broken, layers)
    assert [leaf.ok for leaf in report.leaves] == [True, True, True, False]
    assert report.leaves[3].path == "[1].b"


def test_report_numbers():
    want = {"g": jnp.array([1.0, -2.0, 4.0], jnp.float32)}
    got = {"g": jnp.array([1.0, -2.0, 4.0 + 2 * float(np.spacing(np.float32(4.0)))], jnp.float32)}
    leaf = compare.compare_grads(got, want)["['g']"]
    assert leaf.ok and leaf.dtype == "float32"
    assert leaf.max_ulps == 2
    np.testing.assert_allclose(leaf.max_abs_err, 2 * np.spacing(np.float32(4.0)))
    np.testing.assert_allclose(leaf.max_rel_err, leaf.max_abs_err / 4.0)
    assert (leaf.rtol, leaf.atol) == tuple(compare.TOLERANCES["float32"])
    text = str(compare.compare_grads(got, want))
    assert "max abs err" in text and "ok" in text
    assert compare.compare_grads(got, want).to_dict()["ok"] is True


def test_mixed_dtypes_use_the_less_precise_tolerance():
    *_, want = _truth("float64")
    got32 = jax.tree.map(lambda g: g.astype(jnp.float32), want)
    report = compare.assert_grads_close(got32, want)
    assert {leaf.dtype for leaf in report.leaves} == {"float32"}
    report = compare.compare_grads(jax.tree.map(lambda g: 1.01 * g, got32), want)
    assert "compared at float32" in report["dw"].diagnosis


def test_tolerance_table():
    assert set(compare.TOLERANCES) == {"float64", "float32", "float16", "bfloat16"}
    eps = {name: float(jnp.finfo(name).eps) for name in compare.TOLERANCES}
    for name, tol in compare.TOLERANCES.items():
        # Looser than rounding, far tighter than a 5% error.
        assert eps[name] < tol.rtol < 0.05
    assert compare.tolerance(jnp.float32) == compare.TOLERANCES["float32"]
    with pytest.raises(KeyError, match="no tolerance for dtype int32"):
        compare.tolerance(jnp.int32)


def test_explicit_tolerance_overrides_the_table():
    *_, want = _truth()
    got = jax.tree.map(lambda g: 1.001 * g, want)
    compare.assert_grads_close(got, want, rtol=1e-2, atol=0.0)
    with pytest.raises(AssertionError):
        compare.assert_grads_close(got, want, rtol=1e-4, atol=0.0)
