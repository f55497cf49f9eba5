"""Leaderboards come only from stored runs: numbers, the commands that made them, figures."""

import numpy as np
import pandas as pd
import pytest

from perfekt_bench import DataError
from perfekt_bench.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    dirs = ["--results-dir", str(root / "results"), "--cache-dir", str(root / "cache")]
    assert main(["compare", "--task", "analytic", "--refiner", "identity", "mse",
                 "--seeds", "0", "1", "--budget", "smoke", "--quiet", *dirs,
                 "--leaderboard", "--out", str(root / "boards")]) == 0
    return root


def test_table_rows_are_means_over_seeds(store):
    from perfekt_bench.results import ResultsStore

    rows = ResultsStore(store / "results").read()
    board = pd.read_csv(store / "boards" / "analytic.csv")
    mse = board[(board["label"] == "mse") & (board["metric"] == "mse")].iloc[0]
    stored = rows[(rows["refiner"] == "mse") & (rows["metric"] == "mse")
                  & (rows["candidate"] == "refined")]["value"]
    assert len(stored) == 2 and mse["count"] == 2
    assert mse["mean"] == pytest.approx(stored.mean())
    assert mse["std"] == pytest.approx(stored.std())
    # fastsim does not depend on the refiner: one row from the shared data
    assert (board["label"] == "fastsim").any() and (board["label"] == "fullsim").any()


def test_markdown_names_the_command_and_links_figures(store):
    text = (store / "boards" / "analytic.md").read_text()
    assert "perfekt-bench compare --task analytic --refiner identity mse" in text
    assert "| **mse** |" in text and "| fastsim (unrefined) |" in text
    assert "Fast Perfekt paper, Table 1" in text
    for refiner in ("identity", "mse"):
        png = store / "boards" / "figures" / "analytic" / refiner / "distributions.png"
        assert png.is_file() and f"figures/analytic/{refiner}/distributions.png" in text
    assert (store / "boards" / "figures" / "analytic" / "mse" / "loss.png").is_file()


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    assert main(["leaderboard", "--task", "analytic", "--results-dir", str(tmp_path)]) == 2
    assert "no stored runs of task 'analytic'" in capsys.readouterr().err
    from perfekt_bench.leaderboard import write_leaderboard

    with pytest.raises(DataError):
        write_leaderboard("analytic", results_dir=tmp_path, out_dir=tmp_path / "b")
    assert not np.any([p.suffix == ".md" for p in tmp_path.rglob("*")])


def test_runs_with_other_hyperparameters_get_their_own_row(store, tmp_path):
    """Another ε or learning rate is another configuration, not another seed to average."""
    dirs = ["--results-dir", str(store / "results"), "--cache-dir", str(store / "cache")]
    assert main(["run", "--task", "analytic", "--refiner", "mse", "--budget", "smoke",
                 "--set", "lr=0.01", "--quiet", "--no-plots", *dirs]) == 0
    assert main(["leaderboard", "--task", "analytic", *dirs[:2], "--budget", "smoke",
                 "--out", str(tmp_path)]) == 0
    text = (tmp_path / "analytic.md").read_text()
    assert "| **mse (lr=0.001)** |" in text and "| **mse (lr=0.01)** |" in text
    assert "| **identity** |" in text  # its runs differ in the seed only
    board = pd.read_csv(tmp_path / "analytic.csv")
    counts = board[board["metric"] == "mse"].set_index("label")["count"]
    assert counts["mse (lr=0.001)"] == 2 and counts["mse (lr=0.01)"] == 1
