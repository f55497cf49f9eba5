"""``compare`` in this process: cells keyed by what defines their numbers, resumed from the
store, failures stored as failed runs, one run per cell, the summary of these runs only.
(Processes, SIGKILL and Dask: test_compare_processes.py.)"""

import json
import math
import re

import pandas as pd
import pytest

from perfekt_bench import ConfigurationError, PluginHost, RunConfig, run
from perfekt_bench.cli import main
from perfekt_bench.cluster import threads_per_cell
from perfekt_bench.comparison import CompareConfig, compare, plan
from perfekt_bench.results import ResultsStore, failures, measured

from plugin_fixtures import toy_plugin


@pytest.fixture(scope="module")
def toy_host():
    return PluginHost(plugins=[("toy", toy_plugin())])


def config(tmp_path, refiners, seeds=(0,), **kw):
    return CompareConfig(tasks=kw.pop("tasks", ["toy"]), refiners=list(refiners),
                         seeds=list(seeds), budget="smoke", results_dir=str(tmp_path / "results"),
                         cache_dir=str(tmp_path / "cache"), progress=False, plots=False,
                         data_workers=1, **kw)


def configurations(text: str) -> list[str]:
    """The configuration column of the ranked terminal table(s) in ``text``: each row is its
    rank (a number or —) followed by the configuration's label."""
    return [m.group(1) for m in re.finditer(r"^(?:\d+|—)\s+(\S+)\s", text, re.MULTILINE)]


def stored(tmp_path) -> pd.DataFrame:
    return ResultsStore(tmp_path / "results").read()


def one_run_per_cell(rows: pd.DataFrame) -> None:
    runs = rows.drop_duplicates("run_id")
    assert not runs["run_key"].duplicated().any(), runs[["run_id", "run_key", "status"]]


def test_failed_cells_are_stored_as_failed_runs_and_the_matrix_goes_on(tmp_path, toy_host):
    result = compare(config(tmp_path, ["exploding", "identity"], seeds=[0, 1]), toy_host,
                     log=lambda m: None)
    assert [(c.refiner, c.seed, c.status) for c in result.cells] == [
        ("exploding", 0, "failed"), ("exploding", 1, "failed"),
        ("identity", 0, "ok"), ("identity", 1, "ok")]
    assert result.failed[0].error_message == "RuntimeError: diverged"
    rows = stored(tmp_path)
    bad = failures(rows)
    # one row per failed run, no metric rows, the error and the identity of the cell
    assert len(bad) == 2 and bad["run_id"].nunique() == 2
    assert bad["metric"].isna().all() and bad["candidate"].isna().all()
    assert bad["value"].isna().all() and bad["error"].isna().all()
    assert set(bad["error_message"]) == {"RuntimeError: diverged"}
    assert "raise RuntimeError(\"diverged\")" in bad["error_traceback"].iloc[0]
    assert set(bad["refiner"]) == {"exploding"} and set(bad["seed"]) == {0, 1}
    assert bad["data_key"].notna().all() and bad["run_key"].notna().all()
    # the summary ranks the measured runs only
    assert set(result.rows["refiner"]) == {"identity"}
    (table,) = result.tables().values()
    assert configurations(table) == ["identity"] and "exploding" not in table
    assert set(measured(rows)["refiner"]) == {"identity"}


def test_a_rerun_is_cached_and_failed_cells_run_again(tmp_path, toy_host):
    first = compare(config(tmp_path, ["exploding", "identity"]), toy_host, log=lambda m: None)
    lines = []
    second = compare(config(tmp_path, ["exploding", "identity"]), toy_host, log=lines.append)
    assert {c.refiner: c.status for c in second.cells} == {"exploding": "failed",
                                                           "identity": "cached"}
    identity = [c for c in first.cells if c.refiner == "identity"][0]
    assert [c.run_id for c in second.cells if c.refiner == "identity"] == [identity.run_id]
    assert f"cached: identity on toy, seed 0 (run {identity.run_id})" in lines
    rows = stored(tmp_path)
    # the failed run was replaced by the new failed run, not added to
    assert rows["run_id"].nunique() == 2
    one_run_per_cell(rows)
    assert second.tables() == first.tables()


def test_rerun_replaces_the_stored_run(tmp_path, toy_host):
    first = compare(config(tmp_path, ["identity"], seeds=[0, 1]), toy_host, log=lambda m: None)
    again = compare(config(tmp_path, ["identity"], seeds=[0, 1], rerun=True), toy_host,
                    log=lambda m: None)
    assert [c.status for c in again.cells] == ["ok", "ok"]
    old = {c.run_id for c in first.cells}
    new = {c.run_id for c in again.cells}
    rows = stored(tmp_path)
    assert set(rows["run_id"]) == new and not old & new
    assert not any((tmp_path / "results" / "runs" / run_id).exists() for run_id in old)
    one_run_per_cell(rows)


def test_a_stored_run_counts_only_when_it_has_every_metric_asked_for(tmp_path, toy_host):
    few = compare(config(tmp_path, ["identity"], metrics=["mmd"]), toy_host, log=lambda m: None)
    assert set(few.rows["metric"]) == {"mmd"}
    everything = compare(config(tmp_path, ["identity"]), toy_host, log=lambda m: None)
    assert everything.cells[0].status == "ok"  # the stored run lacked metrics
    assert {"mmd", "chi2", "omniscient_mmd"} <= set(everything.rows["metric"])
    again = compare(config(tmp_path, ["identity"], metrics=["mmd"]), toy_host,
                    log=lambda m: None)
    assert again.cells[0].status == "cached" and set(again.rows["metric"]) == {"mmd"}
    assert stored(tmp_path)["run_id"].nunique() == 1  # the run with fewer metrics was replaced


def test_a_run_made_by_run_is_a_cached_cell(tmp_path, toy_host):
    made = run(RunConfig(task="toy", refiner="identity", budget="smoke", progress=False,
                         plots=False, results_dir=str(tmp_path / "results"),
                         cache_dir=str(tmp_path / "cache"), latency_repeats=0), host=toy_host)
    result = compare(config(tmp_path, ["identity"]), toy_host, log=lambda m: None)
    assert result.cells[0].status == "cached" and result.cells[0].run_id == made.run_id


def test_set_goes_to_the_refiners_that_have_it_and_changes_the_key(tmp_path, toy_host):
    lines = []
    cells, skipped = plan(config(tmp_path, ["identity", "mse"], params={"epochs": 7}),
                          toy_host, log=lines.append)
    assert skipped == []
    by_refiner = {p.cell.config.refiner: p.cell for p in cells}
    assert by_refiner["mse"].params["epochs"] == 7 and by_refiner["mse"].config.params == {
        "epochs": 7}
    assert by_refiner["identity"].config.params == {}
    assert "note: --set epochs does not apply to refiner 'identity'" in lines
    default, _ = plan(config(tmp_path, ["mse"]), toy_host, log=lines.append)
    assert default[0].cell.key != by_refiner["mse"].key
    with pytest.raises(ConfigurationError, match="--set epoch: no refiner of this comparison"):
        plan(config(tmp_path, ["identity", "mse"], params={"epoch": 2}), toy_host)


def test_a_refiner_that_cannot_run_on_a_task_is_skipped(tmp_path, toy_host):
    cells, skipped = plan(config(tmp_path, ["mse", "identity"], tasks=["toy-unpaired"]),
                          toy_host, log=lambda m: None)
    assert [p.cell.config.refiner for p in cells] == ["identity"]
    assert [(s.refiner, s.status) for s in skipped] == [("mse", "skipped")]
    assert "needs paired" in skipped[0].error_message


def test_duplicate_seeds_are_one_cell(tmp_path, toy_host):
    cells, _ = plan(config(tmp_path, ["identity"], seeds=[1, 1, 0]), toy_host)
    assert [p.cell.config.seed for p in cells] == [1, 0]


@pytest.mark.parametrize("options, message", [
    (dict(workers=2, scheduler="tcp://127.0.0.1:1"), "give one of them"),
    (dict(workers=0), "--workers must be a positive integer"),
    (dict(threads_per_cell=0), "--threads-per-cell must be a positive integer"),
    (dict(scheduler="a", scheduler_file="b"), "not both"),
])
def test_contradicting_options_fail_before_any_work(tmp_path, toy_host, options, message):
    with pytest.raises(ConfigurationError, match=message):
        compare(config(tmp_path, ["identity"], **options), toy_host)
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


def test_cli_json_lists_every_cell_and_exit_code(tmp_path, capsys):
    dirs = ["--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "compare.json"
    args = ["compare", "--task", "analytic", "--refiner", "identity", "--seed", "0", "--seed",
            "1", "--metric", "mse", "--metric", "mmd", "--budget", "smoke", "--quiet",
            "--no-plots", "--json", str(out), *dirs]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "2 cells: 2 run, 0 cached, 0 failed, 0 skipped" in captured.out
    assert "identity" in configurations(captured.out) and "mmd ↓" in captured.out
    doc = json.loads(out.read_text())
    assert [(c["seed"], c["status"]) for c in doc["cells"]] == [(0, "ok"), (1, "ok")]
    mse = doc["cells"][0]["metrics"]["mse"]["refined"]["value"]
    assert math.isfinite(mse) and set(doc["cells"][0]["metrics"]) == {"mse", "mmd"}
    assert main(args) == 0
    assert "2 cells: 0 run, 2 cached" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert [c["status"] for c in doc["cells"]] == ["cached", "cached"]
    assert doc["cells"][0]["metrics"]["mse"]["refined"]["value"] == mse


def test_cli_unknown_set_name_exits_2_before_work(tmp_path, capsys):
    assert main(["compare", "--task", "analytic", "--refiner", "identity", "mse", "--set",
                 "lr_typo=1", "--budget", "smoke", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--set lr_typo: no refiner of this comparison" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("workers, cores, threads", [(1, 16, 16), (2, 2, 1), (3, 16, 5),
                                                     (4, 2, 1), (2, 1, 1)])
def test_thread_rule_never_asks_for_more_threads_than_cores(workers, cores, threads):
    assert threads_per_cell(workers, cores) == threads
