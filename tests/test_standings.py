"""Ranking stored runs: configurations, distinct seeds, significance, the noise floor."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from perfekt_bench import DataError
from perfekt_bench.standings import labelled, standings, welch_pvalue

_COUNTER = itertools.count()
FLOOR = (1.0, 0.2)  # fullsim value ± its spread over test batches
FAST = (40.0, 3.0)


def run_rows(refiner, seed, value, *, data_key="d1", lower=True, stamp="2026-01-01T00:00:00",
             status="ok", lr=1e-3, extra=None, **columns):
    """The store rows of one run measuring one metric ``m`` for the three candidates."""
    run_id = f"r{next(_COUNTER):03d}-{refiner}-s{seed}"
    base = {"run_id": run_id, "task": "t", "data_key": data_key, "budget": "quick",
            "n_train": 100, "n_eval": 50, "refiner": refiner, "seed": seed, "status": status,
            "timestamp": stamp, "fit_seconds": 10.0 + seed, "p_lr": lr,
            "command": f"perfekt-bench run --refiner {refiner}", "run_dir": f"/nowhere/{run_id}"}
    base |= columns
    if status == "failed":
        return [base | {"metric": None, "candidate": None, "value": np.nan, "error": np.nan,
                        "error_message": "CUDA out of memory\ntraceback..."}]
    rows = [base | {"metric": "m", "candidate": c, "value": v, "error": e,
                    "lower_is_better": lower}
            for c, (v, e) in {"refined": (value, 0.1), "fullsim": FLOOR,
                              "fastsim": FAST}.items()]
    for metric, v in (extra or {}).items():
        rows.append(base | {"metric": metric, "candidate": "refined", "value": v, "error": 0.0,
                            "lower_is_better": metric != "throughput"})
    return rows


def frame(*runs):
    return pd.DataFrame([row for run in runs for row in run])


def ranked(rows, primary="m", **kwargs):
    return standings(rows, task="t", primary=primary, **kwargs)


def test_welch_matches_scipy():
    a, b = [1.0, 1.2, 0.9, 1.1], [1.5, 1.9, 1.4]
    assert welch_pvalue(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert welch_pvalue([1.0], b) is None  # one seed: nothing to test
    assert welch_pvalue([2.0, 2.0], [2.0, 2.0]) == 1.0  # constant and equal
    assert welch_pvalue([2.0, 2.0], [3.0, 3.0]) == 0.0  # constant and different
    with warnings.catch_warnings():  # scipy warns about the constant sample; we do not
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.ttest_ind([2.0, 2.0], [2.5, 3.5], equal_var=False).pvalue
    assert welch_pvalue([2.0, 2.0], [2.5, 3.5]) == pytest.approx(expected)


def test_rows_that_do_not_differ_significantly_share_a_rank():
    rows = frame(*[run_rows("a", s, v) for s, v in enumerate([1.00, 1.02, 0.98])],
                 *[run_rows("b", s, v) for s, v in enumerate([1.05, 0.90, 1.15])],
                 *[run_rows("c", s, v) for s, v in enumerate([5.0, 5.1, 4.9])])
    table = ranked(rows).tables[0]
    assert [(c.label, c.rank) for c in table.configurations] == [("a", 1), ("b", 1), ("c", 3)]


def test_ranking_follows_the_metric_direction():
    rows = frame(*[run_rows("low", s, v, lower=False) for s, v in enumerate([1.0, 1.1])],
                 *[run_rows("high", s, v, lower=False) for s, v in enumerate([9.0, 9.1])])
    table = ranked(rows).tables[0]
    assert [(c.label, c.rank) for c in table.configurations] == [("high", 1), ("low", 2)]


def test_a_single_seed_is_shown_but_not_ranked():
    rows = frame(*[run_rows("a", s, v) for s, v in enumerate([3.0, 3.1])],
                 run_rows("lonely", 0, 0.5))
    table = ranked(rows).tables[0]
    assert [(c.label, c.rank) for c in table.configurations] == [("a", 1), ("lonely", None)]


def test_floor_and_seeds_that_reach_it_show_a_bimodal_method():
    # 10 seeds: 2 find the right map (at the floor), 8 do not; as onestage on analytic
    values = [50, 51, 1.1, 49, 52, 48, 50, 1.05, 51, 50]
    rows = frame(*[run_rows("split", s, v) for s, v in enumerate(values)],
                 *[run_rows("good", s, v) for s, v in enumerate([1.1, 1.15, 1.19])])
    table = ranked(rows).tables[0]
    split = {c.label: c for c in table.configurations}["split"]
    good = {c.label: c for c in table.configurations}["good"]
    assert split.at_floor is False and split.seeds_at_floor == 2
    assert good.at_floor is True and good.seeds_at_floor == 3
    # floor + spread is the edge: 1.2 reaches it, 1.21 does not
    assert table.reaches_floor(1.2) and not table.reaches_floor(1.21)


def test_repeated_seed_keeps_the_newest_run():
    old = run_rows("a", 0, 7.0, stamp="2026-01-01T00:00:00")
    new = run_rows("a", 0, 2.0, stamp="2026-02-01T00:00:00")
    rows = frame(old, new, run_rows("a", 1, 2.2))
    table = ranked(rows).tables[0]
    (config,) = table.configurations
    assert config.seeds == [0, 1] and config.metrics["m"].values == {0: 2.0, 1: 2.2}
    assert table.replaced == [old[0]["run_id"]]


def test_data_sets_never_share_a_table_and_failed_runs_are_counted():
    rows = frame(*[run_rows("a", s, 1.0 + s / 10) for s in range(2)],
                 *[run_rows("a", s, 9.0 + s / 10, data_key="d2") for s in range(2)],
                 run_rows("a", 5, 0.0, status="failed"))
    result = ranked(rows)
    assert [(t.data_key, len(t.run_ids)) for t in result.tables] == [("d1", 2), ("d2", 2)]
    assert [c.metrics["m"].mean for t in result.tables for c in t.configurations] == \
        pytest.approx([1.05, 9.05])
    (failed,) = result.failed
    assert (failed.refiner, failed.seed, failed.message) == ("a", 5, "CUDA out of memory")


def test_other_hyperparameters_and_tuned_runs_are_other_configurations():
    rows = frame(*[run_rows("a", s, 1.0) for s in range(2)],
                 *[run_rows("a", s, 2.0, lr=0.1) for s in range(2)],
                 *[run_rows("a", s, 0.5, lr=0.03, tuning_study="st", tuning_trials=40)
                   for s in range(2)])
    labels = sorted(set(labelled(rows)["label"]))
    assert labels == ["a (lr=0.001)", "a (lr=0.1)", "a (tuned, 40 trials)"]
    table = ranked(rows).tables[0]
    tuned = table.configurations[0]
    assert tuned.label == "a (tuned, 40 trials)" and tuned.tuning_trials == 40


def test_cost_metrics_are_kept_apart():
    rows = frame(*[run_rows("a", s, 1.0, extra={"latency_p50_ms": 0.1 + s, "throughput": 1e4})
                   for s in range(2)],
                 *[run_rows("b", s, 1.0) for s in range(2)])
    table = ranked(rows).tables[0]
    assert table.metrics == ["m"]
    assert table.cost_metrics == ["latency_p50_ms", "latency_p90_ms", "throughput"]
    assert table.directions["throughput"] is False
    a = {c.label: c for c in table.configurations}["a"]
    assert a.metrics["latency_p50_ms"].mean == pytest.approx(0.6)


def test_direction_from_plugins_for_old_stores_or_no_ranks():
    rows = frame(*[run_rows("a", s, 1.0 + s) for s in range(2)],
                 *[run_rows("b", s, 5.0 + s) for s in range(2)]).drop(
        columns="lower_is_better")
    table = ranked(rows).tables[0]  # no direction: shown, not ranked, and it says why
    assert "no direction" in table.unranked
    assert [(c.label, c.rank, c.at_floor) for c in table.configurations] == [
        ("a", None, None), ("b", None, None)]
    table = ranked(rows, directions={"m": False}).tables[0]
    assert table.directions["m"] is False and table.unranked is None
    assert [(c.label, c.rank) for c in table.configurations] == [("b", 1), ("a", 2)]
    table = ranked(rows, primary="other", directions={"m": True}).tables[0]
    assert "do not measure the task's primary metric `other`" in table.unranked
    assert {c.rank for c in table.configurations} == {None}
    with pytest.raises(DataError, match="no finished runs"):
        ranked(frame(run_rows("a", 0, 0.0, status="failed")))


def test_markdown_names_configurations_whose_seeds_split():
    from perfekt_bench.board import Board, TaskInfo, markdown

    values = [50, 51, 1.1, 49, 52, 48, 50, 1.05, 51, 50]
    rows = frame(*[run_rows("split", s, v) for s, v in enumerate(values)],
                 *[run_rows("good", s, v) for s, v in enumerate([1.1, 1.15, 1.19])])
    text = markdown(Board(TaskInfo("t", "m"), ranked(rows), [], {}), "store")
    assert "Seeds split (some reach the floor, some do not): **split** (2 of 10 seeds)" in text
    assert "**good** (" not in text
    row = next(line for line in text.splitlines() if "| **split** |" in line)
    assert "| no 2/10 |" in row
