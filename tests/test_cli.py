"""The command line as a user meets it: listings, clear errors, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

from perfekt_bench.cli import main


def test_plugins_lists_every_kind(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for word in ("task", "analytic", "refiner", "identity", "mse", "metric", "omniscient_mmd",
                 "perfekt-bench", "0.1.0"):
        assert word in out


def test_plugins_json(capsys):
    assert main(["list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {(p["kind"], p["name"]) for p in doc["plugins"]}
    assert ("refiner", "mse") in names and doc["failures"] == []


def test_unknown_refiner_exit_2_lists_known_without_traceback(capsys):
    assert main(["run", "--task", "analytic", "--refiner", "twostagee"]) == 2
    err = capsys.readouterr().err
    assert "unknown refiner 'twostagee'" in err and "identity" in err and "mse" in err
    assert "Traceback" not in err


def test_unknown_task_exit_2(capsys):
    assert main(["data", "generate", "--task", "nope"]) == 2
    assert "known tasks: analytic" in capsys.readouterr().err


def test_bad_set_syntax(capsys):
    assert main(["run", "--task", "analytic", "--refiner", "mse", "--set", "lr"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_data_generate_caches(tmp_path, capsys):
    assert main(["data", "generate", "--task", "analytic", "--budget", "smoke", "--quiet",
                 "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train 30000, validation 10000, test 10000" in out
    assert len(list(tmp_path.glob("analytic/*/train.parquet"))) == 1


def test_run_prints_table_and_writes_json(tmp_path, capsys):
    out_json = tmp_path / "out.json"
    assert main(["run", "--task", "analytic", "--refiner", "identity", "--budget", "smoke",
                 "--quiet", "--metric", "mse", "--metric", "chi2_ndof",
                 "--json", str(out_json), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "fastsim" in out and "refined" in out and "fullsim" in out and "chi2_ndof" in out
    doc = json.loads(out_json.read_text())
    assert doc["refiner"] == "identity"
    assert not (Path(doc["run_dir"]) / "figures").exists() and "figures:" not in out


def test_console_script_help_is_fast_and_works():
    proc = subprocess.run([sys.executable, "-m", "perfekt_bench", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "run" in proc.stdout
    # --help must not import torch (DESIGN: heavy imports inside methods)
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from perfekt_bench.plugins import PluginHost; PluginHost();"
         "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr


def test_compare_dataset_needs_one_task(capsys):
    assert main(["compare", "--task", "analytic", "jets", "--refiner", "identity",
                 "--dataset", "mine", "--quiet"]) == 2
    assert "--dataset names a data set of one task" in capsys.readouterr().err


def test_compare_runs_on_a_named_dataset(tmp_path, capsys):
    dirs = ["--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    assert main(["compare", "--task", "analytic", "--refiner", "identity", "--dataset",
                 "nothing-cached", "--budget", "smoke", "--quiet", "--no-plots", *dirs]) == 2
    assert "nothing-cached" in capsys.readouterr().err
