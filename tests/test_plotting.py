"""The figures of a run: written by every run and by ``perfekt-bench plot``, readable PNGs."""

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

import perfekt_bench
from perfekt_bench import plotting
from perfekt_bench.cli import main
from perfekt_bench.errors import DataError
from perfekt_bench.runner import RunConfig
from perfekt_bench_plugins.metrics import CorrelationDifference

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("distributions.png", "scatter.png", "correlations.png", "loss.png")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plotting")
    return {"results_dir": str(root / "results"), "cache_dir": str(root / "cache")}


@pytest.fixture(scope="module")
def mse_run(dirs):
    return perfekt_bench.run(RunConfig("analytic", "mse", budget="smoke", progress=False,
                                       metrics=["mse"], latency_repeats=2, **dirs))


def assert_png(path):
    import matplotlib.image

    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert 250 <= height <= 4000 and 400 <= width <= 4000, image.shape


def test_run_writes_all_four_figures(mse_run):
    for name in FIGURES:
        assert_png(mse_run.run_dir / "figures" / name)


def test_identity_run_has_no_loss_figure(dirs):
    result = perfekt_bench.run(RunConfig("analytic", "identity", budget="smoke",
                                         progress=False, metrics=["mse"], latency_repeats=2,
                                         **dirs))
    figures = result.run_dir / "figures"
    assert_png(figures / "distributions.png")
    assert_png(figures / "scatter.png")
    assert_png(figures / "correlations.png")
    assert not (figures / "loss.png").exists()
    assert not (result.run_dir / "history.csv").exists()


def test_plots_false_draws_nothing(dirs):
    result = perfekt_bench.run(RunConfig("analytic", "identity", budget="smoke",
                                         progress=False, metrics=["mse"], latency_repeats=0,
                                         plots=False, **dirs))
    assert not (result.run_dir / "figures").exists()


def test_plotting_failure_warns_but_keeps_the_run(dirs, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(plotting, "plot_run", broken)
    result = perfekt_bench.run(RunConfig("analytic", "identity", budget="smoke",
                                         progress=False, metrics=["mse"], latency_repeats=0,
                                         **dirs))
    assert (result.run_dir / "result.json").is_file()
    assert (result.run_dir / "evaluation.parquet").is_file()
    err = capsys.readouterr().err
    assert "warning" in err and "no ink" in err


def test_cli_plot_missing_folder_exits_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    assert main(["plot", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_plot_folder_without_evaluation_names_the_file(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "evaluation.parquet" in err and "Traceback" not in err


def test_cli_plot_writes_into_out(mse_run, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["plot", str(mse_run.run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in FIGURES:
        assert_png(out / name)
        assert str(out / name) in printed


def test_loss_plot_marks_the_stage_switch(mse_run, tmp_path):
    run_dir = tmp_path / "fake-run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    epochs = np.arange(6)
    pd.DataFrame({"epoch": epochs, "train_loss": 1.0 / (epochs + 1),
                  "val_loss": 1.1 / (epochs + 1), "val_mmd_u": [0.1, 0.0, -0.01, 0.02, 0, 0],
                  "stage": [1, 1, 1, 2, 2, 2], "lambda": np.linspace(1, 2, 6)}
                 ).to_csv(run_dir / "history.csv", index=False)
    switches = plotting.plot_loss(run_dir / "history.csv", tmp_path / "loss.png")
    assert switches == [3]
    assert_png(tmp_path / "loss.png")
    assert plotting.stage_switches(pd.read_csv(run_dir / "history.csv").drop(columns="stage")) \
        == []
    assert (run_dir / "figures" / "loss.png") in plotting.plot_run(run_dir)


def test_empty_history_skips_loss_figure(mse_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    (run_dir / "history.csv").write_text("")
    written = plotting.plot_run(run_dir)
    assert [p.name for p in written] == ["distributions.png", "scatter.png",
                                         "correlations.png", "correlations_conditioning.png"]
    with pytest.raises(DataError):
        plotting.plot_loss(pd.DataFrame(), tmp_path / "x.png")


def test_bins_follow_the_task_else_the_reference(mse_run):
    table = plotting.read_evaluation(mse_run.run_dir)
    task = perfekt_bench.plugins.default_host().task("analytic")
    bins, note = plotting.feature_bins(table, task)
    task_edges = np.asarray(task.evaluation().chi2_bins[0])
    assert "χ²" in note
    assert set(bins["x"]) <= set(task_edges) and bins["x"][0] == task_edges[0]
    bins, note = plotting.feature_bins(table, None)
    assert "reference" in note
    counts, _ = np.histogram(table["reference.x.x"], bins=bins["x"])
    assert counts.min() > 0.5 * counts.max()  # equal-population bins


def test_scatter_without_hidden_feature_uses_g(mse_run, tmp_path):
    table = plotting.read_evaluation(mse_run.run_dir)
    columns, label = plotting.scatter_partner(table)
    assert columns["refined"] == "h_fast.h" and columns["fullsim"] == "h_full.h"
    table = table.drop(columns=[c for c in table.columns if c.startswith(("h_", "reference.h"))])
    columns, label = plotting.scatter_partner(table)
    assert set(columns.values()) == {"g.x_gen"}
    assert "conditioning" in label and "no hidden feature" in label
    assert_png(plotting.plot_scatter(table, tmp_path / "scatter.png"))


# --- correlations (paper Fig. 7) -------------------------------------------------------------

def correlation_table(n=400, seed=0, weight=None):
    """x = (a, b), h = (c,): every candidate and the reference hold the same objects, with
    b = 2a + 1 (exactly correlated) and c independent noise."""
    rng = np.random.default_rng(seed)
    a, c = rng.normal(size=n), rng.normal(size=n)
    cols = {"g.a_gen": a}
    for cand in ("fastsim", "refined", "fullsim"):
        cols |= {f"{cand}.a": a, f"{cand}.b": 2 * a + 1}
    cols |= {"reference.x.a": a, "reference.x.b": 2 * a + 1, "reference.h.c": c,
             "h_fast.c": c, "h_full.c": c,
             "refined.weight": np.ones(n) if weight is None else weight}
    return pd.DataFrame(cols)


def test_pearson_matrix_exact_weighted_and_selected():
    rng = np.random.default_rng(1)
    u, noise = rng.normal(size=(2, 500))
    columns = np.column_stack([u, 2 * u + 1, -3 * u, noise])
    r = plotting.pearson_matrix(columns)
    np.testing.assert_allclose(r[:3, :3], [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=1e-12)
    np.testing.assert_allclose(r, np.corrcoef(columns, rowvar=False), atol=1e-12)
    np.testing.assert_allclose(plotting.pearson_matrix(columns, np.ones(500)), r, atol=1e-12)
    keep = rng.random(500) < 0.3
    np.testing.assert_allclose(plotting.pearson_matrix(columns, keep.astype(float)),
                               np.corrcoef(columns[keep], rowvar=False), atol=1e-12)
    assert np.isnan(plotting.pearson_matrix(np.column_stack([u, np.ones(500)]))[0, 1])


def test_identical_candidates_differ_by_zero(tmp_path):
    table = correlation_table()
    names, hidden, arrays, weight = plotting.correlation_columns(table)
    assert names == ["a", "b", "c"] and hidden == ["c"] and weight is None
    assert set(arrays) == {"fastsim", "refined", "fullsim", "fullsim_a"}
    assert plotting.pearson_matrix(arrays["fullsim"])[0, 1] == pytest.approx(1.0)
    means = plotting.plot_correlations(table, tmp_path / "correlations.png", batch_size=100)
    assert means == {"fastsim": pytest.approx(0, abs=1e-12),
                     "refined": pytest.approx(0, abs=1e-12)}
    assert_png(tmp_path / "correlations.png")
    # non-uniform weights are used; 0/1 weights give the correlation of the kept rows
    keep = np.arange(400) % 3 == 0
    table = correlation_table(weight=keep.astype(float))
    table.loc[~keep, "refined.b"] = 0.0  # only the dropped rows break the correlation
    _, _, arrays, weight = plotting.correlation_columns(table)
    np.testing.assert_array_equal(weight, keep)
    np.testing.assert_allclose(plotting.pearson_matrix(arrays["refined"], weight),
                               np.corrcoef(arrays["refined"][keep], rowvar=False), atol=1e-12)
    means = plotting.plot_correlations(table, tmp_path / "weighted.png")
    kept = np.corrcoef(arrays["refined"][keep], rowvar=False)
    assert kept[0, 1] == pytest.approx(1.0)
    assert means["refined"] == pytest.approx(plotting.mean_abs_difference(
        kept, plotting.pearson_matrix(arrays["fullsim"])), abs=1e-12)
    assert means["refined"] < 0.5 * plotting.mean_abs_difference(
        plotting.pearson_matrix(arrays["refined"]), plotting.pearson_matrix(arrays["fullsim"]))


def test_correlations_with_the_conditioning(tmp_path):
    """CMS Fig. 4: the refined features against g; a refiner that decorrelates b from the GEN
    value shows up there."""
    table = correlation_table()
    table["reference.g.a_gen"] = table["g.a_gen"]
    names, partners, arrays, _ = plotting.correlation_columns(table, "g")
    assert names == ["a", "b", "a_gen"] and partners == ["a_gen"]
    assert plotting.pearson_matrix(arrays["refined"])[1, 2] == pytest.approx(1.0)
    table["refined.b"] = np.random.default_rng(5).normal(size=len(table))
    means = plotting.plot_correlations(table, tmp_path / "cond.png", partners="g")
    assert means["fastsim"] == pytest.approx(0, abs=1e-12) and means["refined"] > 0.5
    assert_png(tmp_path / "cond.png")


def test_correlations_need_a_hidden_feature(mse_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    table = plotting.read_evaluation(run_dir)
    table = table.drop(columns=[c for c in table.columns if c.startswith(("h_", "reference.h"))])
    table.to_parquet(run_dir / "evaluation.parquet", index=False)
    with pytest.raises(DataError, match="hidden"):
        plotting.plot_correlations(table, tmp_path / "c.png")
    assert "correlations.png" not in [p.name for p in plotting.plot_run(run_dir)]
    assert not (run_dir / "figures" / "correlations.png").exists()


@pytest.mark.parametrize("weighted", [False, True])
def test_figure_means_are_the_corr_diff_metric(mse_run, tmp_path, weighted):
    table = plotting.read_evaluation(mse_run.run_dir)
    n = len(table)
    if weighted:
        table["refined.weight"] = np.random.default_rng(2).uniform(0.2, 3.0, n)
    task = perfekt_bench.plugins.default_host().task("analytic")
    names = perfekt_bench.FeatureNames(g=("x_gen",), x=("x",), h=("h",))

    def sample(prefix_x, col_h, weight=None):
        return perfekt_bench.Sample(table[["g.x_gen"]].to_numpy(), table[[prefix_x]].to_numpy(),
                                    table[[col_h]].to_numpy(), names, weight)

    weight = table["refined.weight"].to_numpy() if weighted else None
    candidates = {"fastsim": sample("fastsim.x", "h_fast.h"),
                  "refined": sample("refined.x", "h_fast.h", weight)}
    reference = sample("reference.x.x", "reference.h.h")
    metric = CorrelationDifference()

    def metric_value(cand, batch_size):
        settings = dataclasses.replace(task.evaluation(), batch_size=batch_size)
        return metric.compute(candidates[cand], reference, settings=settings)

    means = plotting.plot_correlations(table, tmp_path / "correlations.png", batch_size=1000)
    _, _, arrays, figure_weight = plotting.correlation_columns(table)
    for cand in candidates:
        assert means[cand] == pytest.approx(metric_value(cand, n + 1).value, rel=1e-9)
        batched = metric_value(cand, 1000)
        value, error = plotting.corr_diff(arrays[cand], arrays["fullsim"],
                                          figure_weight if cand == "refined" else None,
                                          batch_size=1000)
        assert value == pytest.approx(batched.value, rel=1e-9)
        assert error == pytest.approx(batched.error, rel=1e-9)
