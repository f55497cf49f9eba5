"""The figures of a run (the built-in figures plugin): written by every run and by
``perfekt-bench plot`` from the run folder alone, readable PNGs."""

import dataclasses
import json
import shutil
from functools import partial

import numpy as np
import pandas as pd
import pytest

import perfekt_bench
from perfekt_bench import PerfektBenchWarning, RunConfig, batched
from perfekt_bench.cli import main
from perfekt_bench.errors import DataError
from perfekt_bench.rundir import EvaluationTable, read_evaluation, read_settings
from perfekt_bench.stats import mean_correlation_difference, pearson_matrix
from perfekt_bench_plugins import figures
from perfekt_bench_plugins.figures import common, loss, scatter
from perfekt_bench_plugins.metrics import ConditionalCorrelationDifference, CorrelationDifference

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

    monkeypatch.setattr(figures, "draw_run", broken)
    with pytest.warns(PerfektBenchWarning, match="plugin 'figures' failed.*no ink"):
        result = perfekt_bench.run(RunConfig("analytic", "identity", budget="smoke",
                                             progress=False, metrics=["mse"],
                                             latency_repeats=0, **dirs))
    assert (result.run_dir / "result.json").is_file()
    assert (result.run_dir / "evaluation.parquet").is_file()
    # on the command line: one line, no traceback
    assert main(["run", "--task", "analytic", "--refiner", "identity", "--budget", "smoke",
                 "--quiet", "--metric", "mse", "--results-dir", dirs["results_dir"],
                 "--cache-dir", dirs["cache_dir"]]) == 0
    err = capsys.readouterr().err
    assert "perfekt-bench: warning: plugin 'figures' failed" in err and "no ink" in err
    assert "Traceback" not in err


def test_a_killed_figure_leaves_no_file(tmp_path, monkeypatch):
    """Figures are written to a temporary name and renamed: a failure mid-write leaves
    neither a truncated PNG nor the temporary."""
    plt = common.pyplot()
    fig = plt.figure()

    def half_written(path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(fig, "savefig", half_written)
    with pytest.raises(KeyboardInterrupt):
        common.save(fig, tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_redraws_without_the_task(mse_run, tmp_path):
    """A run folder holds its own yardstick: plot needs no task plugin (here: a task name
    that no plugin registers) and still bins by the task's χ² edges."""
    run_dir = tmp_path / "run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps(config | {"task": "no-such-task"}))
    written = figures.draw_run(run_dir)
    assert {p.name for p in written} >= {"distributions.png", "scatter.png", "loss.png"}
    settings = read_settings(run_dir)
    assert settings == perfekt_bench.plugins.default_host().task("analytic").evaluation()
    _, note = common.feature_bins(read_evaluation(run_dir), settings)
    assert "χ²" in note


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
    switches = loss.plot_loss(run_dir / "history.csv", tmp_path / "loss.png")
    assert switches == [3]
    assert_png(tmp_path / "loss.png")
    assert loss.stage_switches(pd.read_csv(run_dir / "history.csv").drop(columns="stage")) \
        == []
    assert (run_dir / "figures" / "loss.png") in figures.draw_run(run_dir)


def test_empty_history_skips_loss_figure(mse_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    (run_dir / "history.csv").write_text("")
    written = figures.draw_run(run_dir)
    assert [p.name for p in written] == ["distributions.png", "scatter.png",
                                         "correlations.png", "correlations_conditioning.png"]
    with pytest.raises(DataError):
        loss.plot_loss(pd.DataFrame(), tmp_path / "x.png")


def test_bins_follow_the_task_else_the_reference(mse_run):
    table = read_evaluation(mse_run.run_dir)
    settings = perfekt_bench.plugins.default_host().task("analytic").evaluation()
    bins, note = common.feature_bins(table, settings)
    task_edges = np.asarray(settings.chi2_bins[0])
    assert "χ²" in note
    assert set(bins["x"]) <= set(task_edges) and bins["x"][0] == task_edges[0]
    bins, note = common.feature_bins(table, None)
    assert "reference" in note
    counts, _ = np.histogram(table.frame["reference.x.x"], bins=bins["x"])
    assert counts.min() > 0.5 * counts.max()  # equal-population bins


def test_scatter_without_hidden_feature_uses_g(mse_run, tmp_path):
    table = read_evaluation(mse_run.run_dir)
    group, label = scatter.scatter_partner(table)
    assert group == "h"
    frame = table.frame
    np.testing.assert_array_equal(table.partners("h", "refined")[1][:, 0], frame["h_fast.h"])
    np.testing.assert_array_equal(table.partners("h", "fullsim")[1][:, 0], frame["h_full.h"])
    table = EvaluationTable(frame.drop(columns=[c for c in frame.columns
                                                if c.startswith(("h_", "reference.h"))]))
    group, label = scatter.scatter_partner(table)
    assert group == "g"
    for cand in ("fastsim", "refined", "fullsim"):
        np.testing.assert_array_equal(table.partners(group, cand)[1][:, 0], frame["g.x_gen"])
    assert "conditioning" in label and "no hidden feature" in label
    assert_png(scatter.plot_scatter(table, tmp_path / "scatter.png"))


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
    return EvaluationTable(pd.DataFrame(cols))


def arrays_of(table, partners="h"):
    """What the correlation figure compares: each candidate's x with its partners, and the
    reference (half B)."""
    out = {cand: table.candidate(cand, partners) for cand in ("fastsim", "refined")}
    return out | {"fullsim": table.reference(partners),
                  "fullsim_a": table.candidate("fullsim", partners)}


def test_pearson_matrix_exact_weighted_and_selected():
    rng = np.random.default_rng(1)
    u, noise = rng.normal(size=(2, 500))
    columns = np.column_stack([u, 2 * u + 1, -3 * u, noise])
    r = pearson_matrix(columns)
    np.testing.assert_allclose(r[:3, :3], [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=1e-12)
    np.testing.assert_allclose(r, np.corrcoef(columns, rowvar=False), atol=1e-12)
    np.testing.assert_allclose(pearson_matrix(columns, np.ones(500)), r, atol=1e-12)
    keep = rng.random(500) < 0.3
    np.testing.assert_allclose(pearson_matrix(columns, keep.astype(float)),
                               np.corrcoef(columns[keep], rowvar=False), atol=1e-12)
    assert np.isnan(pearson_matrix(np.column_stack([u, np.ones(500)]))[0, 1])


def test_a_constant_feature_counts_as_uncorrelated():
    """One corr_diff for metric and figure: a collapsed (constant) feature has no defined
    correlation and counts as ρ = 0, so losing a correlation is charged, not hidden."""
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(2, 300))
    reference = np.column_stack([u, u + 0.1 * v, v])
    collapsed = np.column_stack([u, np.full(300, 2.0), v])
    r = pearson_matrix(reference)
    expected = np.mean(np.abs([r[0, 1], r[0, 2] - pearson_matrix(collapsed)[0, 2], r[1, 2]]))
    assert mean_correlation_difference(collapsed, reference) == pytest.approx(expected)
    assert mean_correlation_difference(collapsed, reference) > 0.3


def test_identical_candidates_differ_by_zero(tmp_path):
    table = correlation_table()
    arrays, weight = arrays_of(table), table.weights()
    assert table.features + table.hidden == ["a", "b", "c"] and table.hidden == ["c"]
    assert weight is None and table.has_reference
    assert pearson_matrix(arrays["fullsim"])[0, 1] == pytest.approx(1.0)
    means = figures.plot_correlations(table, tmp_path / "correlations.png", batch_size=100)
    assert means == {"fastsim": pytest.approx(0, abs=1e-12),
                     "refined": pytest.approx(0, abs=1e-12)}
    assert_png(tmp_path / "correlations.png")
    # non-uniform weights are used; 0/1 weights give the correlation of the kept rows
    keep = np.arange(400) % 3 == 0
    table = correlation_table(weight=keep.astype(float))
    table.frame.loc[~keep, "refined.b"] = 0.0  # only the dropped rows break the correlation
    arrays, weight = arrays_of(table), table.weights()
    np.testing.assert_array_equal(weight, keep)
    np.testing.assert_allclose(pearson_matrix(arrays["refined"], weight),
                               np.corrcoef(arrays["refined"][keep], rowvar=False), atol=1e-12)
    means = figures.plot_correlations(table, tmp_path / "weighted.png")
    kept = np.corrcoef(arrays["refined"][keep], rowvar=False)
    assert kept[0, 1] == pytest.approx(1.0)
    assert means["refined"] == pytest.approx(mean_correlation_difference(
        arrays["refined"][keep], arrays["fullsim"]), abs=1e-12)
    assert means["refined"] < 0.5 * mean_correlation_difference(arrays["refined"],
                                                                arrays["fullsim"])


def test_correlations_with_the_conditioning(tmp_path):
    """CMS Fig. 4: the refined features against g; a refiner that decorrelates b from the GEN
    value shows up there."""
    frame = correlation_table().frame
    frame["reference.g.a_gen"] = frame["g.a_gen"]
    table = EvaluationTable(frame)
    arrays = arrays_of(table, "g")
    assert table.features + table.conditioning == ["a", "b", "a_gen"]
    assert pearson_matrix(arrays["refined"])[1, 2] == pytest.approx(1.0)
    frame["refined.b"] = np.random.default_rng(5).normal(size=len(frame))
    means = figures.plot_correlations(EvaluationTable(frame), tmp_path / "cond.png",
                                      partners="g")
    # the mean runs over the refined × conditioning pairs (a, a_gen) and (b, a_gen): b lost its
    # correlation of 1 with a_gen, a kept it
    refined = arrays_of(EvaluationTable(frame), "g")["refined"]
    expected = (1 - pearson_matrix(refined)[1, 2]) / 2
    assert means["fastsim"] == pytest.approx(0, abs=1e-12)
    assert means["refined"] == pytest.approx(expected, rel=1e-12) and expected > 0.4
    assert_png(tmp_path / "cond.png")


def test_correlations_need_a_hidden_feature(mse_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(mse_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "figures")
    frame = read_evaluation(run_dir).frame
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith(("h_", "reference.h"))])
    frame.to_parquet(run_dir / "evaluation.parquet", index=False)
    with pytest.raises(DataError, match="hidden"):
        figures.plot_correlations(EvaluationTable(frame), tmp_path / "c.png")
    assert "correlations.png" not in [p.name for p in figures.draw_run(run_dir)]
    assert not (run_dir / "figures" / "correlations.png").exists()


@pytest.mark.parametrize("partners", ["h", "g"])
@pytest.mark.parametrize("weighted", [False, True])
def test_figure_means_are_the_correlation_metrics(mse_run, tmp_path, weighted, partners):
    """correlations.png shows corr_diff, correlations_conditioning.png cond_corr_diff: the same
    numbers, from the same function."""
    frame = read_evaluation(mse_run.run_dir).frame
    n = len(frame)
    if weighted:
        frame["refined.weight"] = np.random.default_rng(2).uniform(0.2, 3.0, n)
    table = EvaluationTable(frame)
    task = perfekt_bench.plugins.default_host().task("analytic")
    names = perfekt_bench.FeatureNames(g=("x_gen",), x=("x",), h=("h",))

    def sample(prefix_x, col_h, col_g="g.x_gen", weight=None):
        return perfekt_bench.Sample(frame[[col_g]].to_numpy(), frame[[prefix_x]].to_numpy(),
                                    frame[[col_h]].to_numpy(), names, weight)

    weight = frame["refined.weight"].to_numpy() if weighted else None
    candidates = {"fastsim": sample("fastsim.x", "h_fast.h"),
                  "refined": sample("refined.x", "h_fast.h", weight=weight)}
    reference = sample("reference.x.x", "reference.h.h", "reference.g.x_gen")
    metric = CorrelationDifference() if partners == "h" else ConditionalCorrelationDifference()
    difference = partial(mean_correlation_difference, cross=1 if partners == "g" else None)

    def metric_value(cand, batch_size):
        settings = dataclasses.replace(task.evaluation(), batch_size=batch_size)
        return metric.compute(candidates[cand], reference, settings=settings)

    means = figures.plot_correlations(table, tmp_path / "correlations.png", batch_size=1000,
                                      partners=partners)
    arrays, figure_weight = arrays_of(table, partners), table.weights()
    for cand in candidates:
        assert means[cand] == pytest.approx(metric_value(cand, n + 1).value, rel=1e-9)
        per_batch = metric_value(cand, 1000)
        figure = batched(difference, arrays[cand], arrays["fullsim"],
                         figure_weight if cand == "refined" else None, batch_size=1000)
        assert figure.value == pytest.approx(per_batch.value, rel=1e-9)
        assert figure.error == pytest.approx(per_batch.error, rel=1e-9)
