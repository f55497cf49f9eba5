"""``run``: what it measures, what it writes, and what it refuses."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from perfekt_bench import (
    ConfigurationError,
    DataError,
    IncompatibleError,
    PluginHost,
    RunConfig,
    run,
)
from perfekt_bench.latency import LATENCY_METRICS
from perfekt_bench.results import ResultsStore

from plugin_fixtures import toy_plugin


@pytest.fixture
def toy_host():
    return PluginHost(plugins=[("toy", toy_plugin())])


def smoke(task="analytic", refiner="identity", **kw):
    kw.setdefault("plots", False)  # figures have their own tests (test_plotting.py)
    kw.setdefault("latency_repeats", 5)
    return RunConfig(task, refiner, budget="smoke", progress=False, **kw)


def test_identity_refined_equals_fastsim_exactly(tmp_path, builtins):
    result = run(smoke(json_path=str(tmp_path / "out.json")), host=builtins)
    # every metric that applies to analytic; the opt-in ones (fpd, kpd, c2st) do not
    assert set(result.metrics) == {"mmd", "mmd_u", "omniscient_mmd", "mse", "chi2_ndof",
                                   "chi2", "corr_diff", "n_eff", "cond_corr_diff", "cond_mmd",
                                   "closure_pull", *LATENCY_METRICS}
    for name, per in result.metrics.items():
        if name not in LATENCY_METRICS:  # measured on the refined candidate only
            assert per["refined"] == per["fastsim"], name
    assert "mse" not in result.metrics["mse"].keys() - {"fastsim", "refined"}
    assert "fullsim" not in result.metrics["mse"]  # the floor has no paired partner


def test_json_schema(tmp_path):
    path = tmp_path / "out.json"
    result = run(smoke(json_path=str(path)))
    doc = json.loads(path.read_text())
    assert {doc["task"], doc["refiner"], doc["seed"], doc["budget"]} == {
        "analytic", "identity", 0, "smoke"}
    assert set(doc["metrics"]["mmd"]) == {"fastsim", "refined", "fullsim"}
    assert set(doc["metrics"]["mmd"]["fastsim"]) == {"value", "error"}
    assert {"fit_seconds", "refine_seconds_per_object"} <= set(doc["timings"])
    assert doc["run_dir"] == str(result.run_dir)
    assert doc["backends"] == dict.fromkeys(LATENCY_METRICS, "onnxruntime")
    assert set(doc["metrics"]["latency_p50_ms"]) == {"refined"}


def test_store_rows_and_run_folder(tmp_path, builtins):
    result = run(smoke(refiner="mse", results_dir=str(tmp_path / "res")), host=builtins)
    rows = ResultsStore(tmp_path / "res").read()
    # 11 metrics × 3 candidates, less the floor's MSE, and 3 latency metrics of the refined
    assert len(rows) == 35
    latency = rows[rows["metric"].isin(list(LATENCY_METRICS))]
    assert set(latency["candidate"]) == {"refined"} and len(latency) == 3
    assert (latency["backend"] == "onnxruntime").all()
    assert rows.loc[~rows.index.isin(latency.index), "backend"].isna().all()
    assert dict(zip(latency["metric"], latency["lower_is_better"], strict=True)) == {
        "latency_p50_ms": True, "latency_p90_ms": True, "throughput": False}
    assert set(rows["candidate"]) == {"fastsim", "refined", "fullsim"}
    for column in ("run_id", "task", "refiner", "metric", "value", "error", "fit_seconds",
                   "refine_seconds_per_object", "package_version", "git_revision",
                   "torch_version", "device", "host", "timestamp", "p_lr", "p_width"):
        assert column in rows.columns, column
    assert (rows["p_width"] == 16).all()
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"config.json", "result.json", "history.csv", "model", "evaluation.parquet",
            "evaluation.json"} <= files
    history = pd.read_csv(result.run_dir / "history.csv")
    assert {"epoch", "train_loss", "val_loss"} <= set(history.columns)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["params"]["width"] == 16 and config["budget"] == "smoke"


def test_same_seed_same_numbers():
    a = run(smoke(refiner="mse", metrics=["mmd", "mse"], latency_repeats=0))
    b = run(smoke(refiner="mse", metrics=["mmd", "mse"], latency_repeats=0))
    c = run(smoke(refiner="mse", metrics=["mmd", "mse"], seed=1, latency_repeats=0))
    assert a.metrics == b.metrics
    assert a.metrics["mmd"]["refined"] != c.metrics["mmd"]["refined"]


def test_hyperparameter_override_and_unknown_one():
    result = run(smoke(refiner="mse", params={"width": 8}, metrics=["mse"]))
    assert result.params["width"] == 8
    with pytest.raises(ConfigurationError, match="has no hyperparameter 'widht'.*width"):
        run(smoke(refiner="mse", params={"widht": 8}))


def test_third_party_metric_and_task_are_evaluated(toy_host):
    result = run(smoke(task="toy", metrics=["mean_shift", "mmd"]), host=toy_host)
    assert result.metrics["mean_shift"]["fastsim"].value > 0.3  # the toy shifts x by 0.5
    assert result.metrics["mean_shift"]["fullsim"].value < 0.1


def test_pairs_needed_fails_before_training_and_writes_nothing(toy_host, tmp_path):
    with pytest.raises(IncompatibleError, match="needs paired"):
        run(smoke(task="toy-unpaired", refiner="mse", results_dir=str(tmp_path / "res")),
            host=toy_host)
    assert not (tmp_path / "res").exists()


def test_nan_in_task_data_names_column_and_count(toy_host):
    with pytest.raises(DataError, match=r"x_fast\.x1: 3 NaN and 0 infinite"):
        run(smoke(task="toy-nan"), host=toy_host)


def test_failed_fit_writes_nothing(toy_host, tmp_path):
    with pytest.raises(RuntimeError, match="diverged"):
        run(smoke(task="toy", refiner="exploding", results_dir=str(tmp_path / "res")),
            host=toy_host)
    assert not (tmp_path / "res").exists()


def test_cuda_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigurationError, match="sees no CUDA device"):
        run(smoke(device="cuda"))


def test_unknown_budget():
    with pytest.raises(ConfigurationError, match="smoke, quick, paper"):
        run(RunConfig("analytic", "identity", budget="huge", progress=False))


def test_timings_are_recorded():
    result = run(smoke(refiner="mse", metrics=["mse"]))
    t = result.timings
    assert t["fit_seconds"] > 0 and t["refine_seconds_per_object"] > 0
    assert not math.isnan(t["fit_seconds"])
    assert np.isfinite(list(t.values())).all()
    latency = {name: result.metrics[name]["refined"].value for name in LATENCY_METRICS}
    assert 0 < latency["latency_p50_ms"] <= latency["latency_p90_ms"]
    assert latency["throughput"] > 0
    assert set(result.backends.values()) == {"onnxruntime"}


def test_latency_can_be_left_out_and_must_not_be_negative():
    result = run(smoke(metrics=["mse"], latency_repeats=0))
    assert not set(result.metrics) & set(LATENCY_METRICS) and result.backends == {}
    with pytest.raises(ConfigurationError, match="--latency-queries.*-1"):
        run(smoke(latency_repeats=-1))
