"""Bad input through the real command line (tests/bad_inputs.py holds the cases): the exit code,
no traceback, one line naming the problem, nothing written."""

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from perfekt_bench.cli import main

import bad_inputs
from bad_inputs import CASES, TESTDATA


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return bad_inputs._prepare_shared(tmp_path_factory.mktemp("bad-input-shared"))


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def test_there_are_enough_cases():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} >= {"output", "number", "set", "data", "metric", "damaged"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, shared, tmp_path, monkeypatch, capsys):
    if case.needs == "testdata" and not TESTDATA.is_dir():
        pytest.skip("the real test files beside the project are not here")
    values = bad_inputs.values_for(tmp_path, shared)
    bad_inputs._setup(case, values, tmp_path, None)
    for key, value in bad_inputs._env(case, values).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    before = bad_inputs.snapshot(tmp_path, Path(shared["results"]).parent)
    code, err = run_cli([a.format(**values) for a in case.argv], capsys)
    assert bad_inputs.check(case, code, err) == [], err
    assert bad_inputs.snapshot(tmp_path, Path(shared["results"]).parent) == before, \
        "the failed command wrote files"


def test_the_console_script_prints_no_traceback(tmp_path):
    """The installed entry point, not just main(): a bad option in a real process."""
    proc = subprocess.run([sys.executable, "-m", "perfekt_bench", "run", "--task", "analytic",
                           "--refiner", "identity", "--size", "-5"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def _limit_file_size():
    """In the child: files may not grow beyond 200 kB (as a nearly full disk refuses more),
    and the kernel's SIGXFSZ becomes an OSError instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_full_disk_while_writing_is_one_line_and_stores_nothing(tmp_path):
    """The run folder's evaluation table is larger than the limit: writing it fails mid-way.
    One line naming the reason, exit 3, and neither a run folder, a store file nor a
    temporary left."""
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "perfekt_bench", "run", "--task", "analytic", "--refiner",
         "identity", "--budget", "smoke", "--quiet", "--no-plots", "--metric", "mse",
         "--results-dir", str(results), "--cache-dir", str(tmp_path / "cache"), "--json",
         str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=600, preexec_fn=_limit_file_size,
        env=os.environ | {"PERFEKT_BENCH_CACHE": str(tmp_path / "cache")})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 3, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "File too large" in lines[0]
    leftovers = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert leftovers == [] and not (tmp_path / "out.json").exists()
