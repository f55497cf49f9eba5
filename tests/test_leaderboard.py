"""Leaderboards come only from stored runs: ranked configurations, the commands that made them,
figures; they are written safely and regenerate byte for byte."""

import shutil

import pandas as pd
import pytest

from perfekt_bench import DataError
from perfekt_bench.cli import main
from perfekt_bench.results import ResultsStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    dirs = ["--results-dir", str(root / "results"), "--cache-dir", str(root / "cache")]
    assert main(["compare", "--task", "analytic", "--refiner", "identity", "mse",
                 "--seeds", "0", "1", "--budget", "smoke", "--quiet", *dirs,
                 "--leaderboard", "--out", str(root / "boards")]) == 0
    return root


@pytest.fixture
def copy(store, tmp_path):
    """A copy of the module's results store (runs folders included) to change."""
    shutil.copytree(store / "results", tmp_path / "results")
    return tmp_path / "results"


def board(results, out, *extra):
    return main(["leaderboard", "--task", "analytic", "--results-dir", str(results), "--out",
                 str(out), *extra])


def test_table_rows_are_means_over_seeds(store):
    rows = ResultsStore(store / "results").read()
    summary = pd.read_csv(store / "boards" / "analytic.csv")
    mse = summary[(summary["label"] == "mse") & (summary["metric"] == "mse")].iloc[0]
    stored = rows[(rows["refiner"] == "mse") & (rows["metric"] == "mse")
                  & (rows["candidate"] == "refined")]["value"]
    assert len(stored) == 2 and mse["n"] == 2 and mse["n_seeds"] == 2
    assert mse["mean"] == pytest.approx(stored.mean())
    assert mse["std"] == pytest.approx(stored.std())
    # fastsim does not depend on the refiner: one reference row from the shared data
    refs = summary[summary["row"] == "reference"]
    assert set(refs["label"]) == {"fastsim", "fullsim"}
    seeds = pd.read_csv(store / "boards" / "analytic-seeds.csv")
    assert sorted(seeds[(seeds["label"] == "mse") & (seeds["metric"] == "mse")]["value"]) == \
        pytest.approx(sorted(stored))


def test_markdown_is_ranked_names_the_test_command_and_figures(store):
    text = (store / "boards" / "analytic.md").read_text()
    assert "perfekt-bench compare --task analytic --refiner identity mse" in text
    assert "Ranked by `omniscient_mmd` (lower is better)" in text and "Welch's t-test" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] + header[4:5] == ["rank", "configuration", "seeds", "at floor"]
    assert header[3].startswith("`omniscient_mmd` ↓")
    # the cost columns, also where no run measured latency ("—", never 0)
    assert header[-5:] == ["`latency_p50_ms` ↓", "`latency_p90_ms` ↓",
                           "`throughput` ↑ [objects/s]", "fit time ↓ [s]", "tuning trials"]
    summary = pd.read_csv(store / "boards" / "analytic.csv")
    primary = summary[(summary["metric"] == "omniscient_mmd")
                      & (summary["row"] == "configuration")].sort_values(["rank", "mean"])
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:5]]
    assert [row[1] for row in body[:2]] == [f"**{label}**" for label in primary["label"]]
    assert [row[1] for row in body[2:]] == ["fullsim (noise floor)", "fastsim (unrefined)"]
    assert [int(row[0]) for row in body[:2]] == list(primary["rank"])
    assert "×10" not in text.split("## The paper's numbers")[0]
    for refiner in ("identity", "mse"):
        png = store / "boards" / "figures" / "analytic" / refiner / "distributions.png"
        assert png.is_file() and f"figures/analytic/{refiner}/distributions.png" in text
    assert (store / "boards" / "figures" / "analytic" / "mse" / "loss.png").is_file()
    for plot in ("seeds.png", "cost.png", "tradeoff.png"):
        assert len(list((store / "boards" / "plots" / "analytic").glob(f"*/{plot}"))) == 1


def test_runs_without_latency_show_a_dash_and_runs_with_it_a_number(copy, tmp_path):
    """Latency rows (issue 10) are metric rows of the refined candidate; runs stored before
    latency was measured (here: the copy's runs with their latency rows taken out) show "—"."""
    store = ResultsStore(copy)
    for file in store.files():
        kept = pd.read_parquet(file)
        kept = kept[~kept["metric"].isin(["latency_p50_ms", "latency_p90_ms", "throughput"])]
        store.write_rows(file.stem, kept.to_dict("records"))
    path = next(p for p in store.files() if "-mse-s0-" in p.name)
    rows = pd.read_parquet(path)
    template = rows[rows["candidate"] == "refined"].iloc[0]
    extra = [template.to_dict() | {"metric": m, "value": v, "error": 0.01,
                                   "lower_is_better": m != "throughput"}
             for m, v in (("latency_p50_ms", 0.12), ("latency_p90_ms", 0.15),
                          ("throughput", 43100.0))]
    store.write_rows(str(rows["run_id"].iloc[0]), rows.to_dict("records") + extra)
    assert board(copy, tmp_path / "b") == 0
    lines = (tmp_path / "b" / "analytic.md").read_text().splitlines()
    header = [c.strip() for c in next(x for x in lines if x.startswith("| rank")).split("|")]
    col = header.index("`latency_p50_ms` ↓")
    cells = {row.split("|")[2].strip(): row.split("|")[col].strip()
             for row in lines if row.startswith("| ") and "**" in row}
    assert cells == {"**mse**": "0.12", "**identity**": "—"}  # one seed of mse measured it
    assert "`throughput` ↑ [objects/s]" in header


def test_repeated_seed_keeps_the_newest_run_and_says_so(copy, store, tmp_path):
    old = sorted(p.stem for p in ResultsStore(copy).files() if "-mse-s0-" in p.name)
    assert main(["run", "--task", "analytic", "--refiner", "mse", "--seed", "0", "--budget",
                 "smoke", "--quiet", "--no-plots", "--results-dir", str(copy), "--cache-dir",
                 str(store / "cache")]) == 0
    assert board(copy, tmp_path / "b") == 0
    text = (tmp_path / "b" / "analytic.md").read_text()
    assert f"replaced: `{old[0]}`" in text
    summary = pd.read_csv(tmp_path / "b" / "analytic.csv")
    assert set(summary.loc[summary["label"] == "mse", "n_seeds"]) == {2}


def test_failed_runs_are_left_out_and_counted(copy, tmp_path):
    ResultsStore(copy).write_rows("x-failed", [{
        "run_id": "x-failed", "task": "analytic", "data_key": None, "refiner": "mse",
        "seed": 7, "budget": "smoke", "status": "failed", "metric": None, "candidate": None,
        "value": float("nan"), "error": float("nan"),
        "error_message": "ConfigurationError: lr must be positive\nmore"}])
    assert board(copy, tmp_path / "b") == 0
    text = (tmp_path / "b" / "analytic.md").read_text()
    assert "1 failed run left out: `mse` seed 7: ConfigurationError: lr must be positive." \
        in text
    summary = pd.read_csv(tmp_path / "b" / "analytic.csv")
    assert set(summary.loc[summary["label"] == "mse", "n_seeds"]) == {2}


def test_runs_on_another_data_set_get_their_own_table(copy, store, tmp_path):
    assert main(["run", "--task", "analytic", "--refiner", "identity", "--data-seed", "1",
                 "--budget", "smoke", "--quiet", "--no-plots", "--results-dir", str(copy),
                 "--cache-dir", str(store / "cache")]) == 0
    assert board(copy, tmp_path / "b") == 0
    text = (tmp_path / "b" / "analytic.md").read_text()
    assert text.count("## Data set `") == 2
    summary = pd.read_csv(tmp_path / "b" / "analytic.csv")
    assert summary["data_key"].nunique() == 2


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    assert main(["leaderboard", "--task", "analytic", "--results-dir", str(tmp_path)]) == 2
    assert "no stored runs of task 'analytic'" in capsys.readouterr().err
    from perfekt_bench.board import TaskInfo, load_standings

    with pytest.raises(DataError):
        load_standings(TaskInfo("analytic", "omniscient_mmd"), results_dir=tmp_path)
    assert not any(p.suffix == ".md" for p in tmp_path.rglob("*"))


def test_runs_with_other_hyperparameters_get_their_own_row(copy, store, tmp_path):
    """Another ε or learning rate is another configuration, not another seed to average."""
    assert main(["run", "--task", "analytic", "--refiner", "mse", "--budget", "smoke",
                 "--set", "lr=0.01", "--quiet", "--no-plots", "--results-dir", str(copy),
                 "--cache-dir", str(store / "cache")]) == 0
    assert board(copy, tmp_path / "b", "--budget", "smoke") == 0
    text = (tmp_path / "b" / "analytic.md").read_text()
    assert "**mse (lr=0.001)**" in text and "**mse (lr=0.01)**" in text
    assert "**identity**" in text  # its runs differ in the seed only
    summary = pd.read_csv(tmp_path / "b" / "analytic.csv")
    counts = summary[summary["metric"] == "mse"].set_index("label")["n_seeds"]
    assert counts["mse (lr=0.001)"] == 2 and counts["mse (lr=0.01)"] == 1


def test_the_readme_command_writes_under_the_results_folder(copy, tmp_path, monkeypatch):
    """Typed in a checkout, 'perfekt-bench leaderboard --task analytic' must not touch the
    committed leaderboards/."""
    checkout = tmp_path / "checkout"
    (checkout / "leaderboards").mkdir(parents=True)
    committed = checkout / "leaderboards" / "analytic.md"
    committed.write_text("committed\n")
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("PERFEKT_BENCH_RESULTS", str(copy))
    assert main(["leaderboard", "--task", "analytic"]) == 0
    assert committed.read_text() == "committed\n"
    assert (copy / "leaderboards" / "analytic.md").is_file()


def test_another_stores_board_is_not_overwritten_without_force(copy, store, tmp_path, capsys):
    out = tmp_path / "b"
    assert board(store / "results", out) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert board(copy, out) == 2
    err = capsys.readouterr().err
    assert "made from the results store" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert board(copy, out, "--force") == 0
    assert board(copy, out) == 0  # now it is this store's: no --force needed


def test_files_no_leaderboard_made_are_not_overwritten(store, tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    (out / "analytic.csv").write_text("mine\n")
    assert board(store / "results", out) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "analytic.csv").read_text() == "mine\n"


def test_check_passes_on_a_fresh_build_and_names_the_first_difference(store, tmp_path,
                                                                       capsys):
    out = tmp_path / "b"
    args = ["--html", str(out)]
    assert board(store / "results", out, *args) == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert board(store / "results", out, *args, "--check") == 0
    # a second build from the same store is byte-identical, the HTML site included
    again = tmp_path / "again"
    assert board(store / "results", again, "--html", str(again)) == 0
    assert {p.relative_to(again): p.read_bytes() for p in again.rglob("*")
            if p.is_file()} == first
    assert any(p.suffix == ".html" for p in first)
    png = next(data for p, data in first.items() if p.name == "seeds.png")
    assert b"Software" not in png and b"tIME" not in png
    capsys.readouterr()
    csv = out / "analytic.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:3] + [lines[3].replace(",", ";", 1)] + lines[4:]) + "\n")
    (out / "plots" / "analytic" / "stale.png").write_bytes(b"x")
    assert board(store / "results", out, *args, "--check") == 1
    err = capsys.readouterr().err
    assert "2 file(s) differ" in err and f"{csv}:4: on disk" in err
    assert "stale.png" in err
    assert csv.read_text().splitlines()[3] != lines[3]  # --check wrote nothing
    assert board(store / "results", out, *args) == 0
    assert not (out / "plots" / "analytic" / "stale.png").exists()
    assert board(store / "results", out, *args, "--check") == 0
