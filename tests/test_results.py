"""The results store owns its row schema: written by runs, read back, damaged files named."""

import pandas as pd
import pytest

from perfekt_bench import PerfektBenchWarning, RunConfig, run
from perfekt_bench.cli import main
from perfekt_bench.results import REQUIRED, SCHEMA_VERSION, ResultsStore


@pytest.fixture
def store(tmp_path, builtins):
    run(RunConfig("analytic", "identity", budget="smoke", progress=False, plots=False,
                  metrics=["mse", "mmd", "n_eff"], latency_repeats=0,
                  results_dir=str(tmp_path)), host=builtins)
    return ResultsStore(tmp_path)


def test_rows_carry_the_schema(store):
    rows = store.read()
    assert set(REQUIRED) <= set(rows.columns)
    assert (rows["schema_version"] == SCHEMA_VERSION).all()
    assert set(rows["metric"]) == {"mse", "mmd", "n_eff"}
    assert (rows["status"] == "ok").all()
    direction = rows.groupby("metric")["lower_is_better"].agg(set).to_dict()
    assert direction == {"mse": {True}, "mmd": {True}, "n_eff": {False}}


def test_a_damaged_file_is_named_and_skipped(store, capsys):
    (store.folder / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.warns(PerfektBenchWarning, match="broken.parquet: cannot read"):
        rows = store.read()
    assert len(rows) > 0  # the good run is still there


def test_a_foreign_file_missing_columns_is_named_and_skipped(store, capsys):
    pd.DataFrame({"run_id": ["x"], "task": ["analytic"], "value": [1.0]}).to_parquet(
        store.folder / "foreign.parquet")
    with pytest.warns(PerfektBenchWarning, match=r"foreign.parquet: 7 required column\(s\) "
                                                 r"missing \(data_key, refiner, seed"):
        rows = store.read()
    assert "x" not in set(rows["run_id"])
    # the leaderboard reads the store the same way: a warning line, not a KeyError
    assert main(["leaderboard", "--task", "analytic", "--budget", "smoke", "--results-dir",
                 str(store.root), "--out", str(store.root / "boards")]) == 0
    err = capsys.readouterr().err
    assert "perfekt-bench: warning: skipping results file" in err and "Traceback" not in err
