"""``compare`` as real processes: SIGKILL of the compare and of a Dask worker in the middle of a
cell, a LocalCluster of processes, an existing Dask cluster started with Dask's own command
line, and processes generating one data set at once. The test plugins (compare_plugin.py) are
installed as a distribution on PYTHONPATH, so every process, Dask workers included, loads them.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from test_compare import configurations

from perfekt_bench.cluster import THREAD_VARIABLES, local_client, threads_per_cell
from perfekt_bench.results import ResultsStore

TESTS = Path(__file__).resolve().parent
TIMEOUT = 300


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A folder holding the dist-info of a distribution whose entry point is compare_plugin."""
    site = tmp_path_factory.mktemp("site")
    info = site / "perfekt_bench_compare_fixtures-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: perfekt-bench-compare-fixtures"
                                   "\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[perfekt_bench]\ncompare-fixtures = compare_plugin\n")
    return site


@pytest.fixture
def env(plugin_site, tmp_path):
    """The environment of the processes, read now: it holds this test's cache and results
    folders (conftest), never the user's."""
    (tmp_path / "signals").mkdir()
    paths = [str(plugin_site), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths),
                         "PB_TEST_SIGNALS": str(tmp_path / "signals")}


def compare_command(tmp_path, *args):
    return [sys.executable, "-m", "perfekt_bench", "compare", *args, "--budget", "smoke",
            "--quiet", "--no-plots", "--data-workers", "1",
            "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]


def run(args, env, **kw):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = TIMEOUT) -> Path:
    """Wait until ``path`` exists; fail with the process's output if it ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended ({proc.returncode}) before {path} appeared:\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)
    time.sleep(0.2)  # the pid is written right after the file is created
    return path


def gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` ends (or is a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def runs(tmp_path) -> pd.DataFrame:
    """One row per stored run."""
    return ResultsStore(tmp_path / "results").read().drop_duplicates("run_id")


def assert_one_ok_run_per_cell(tmp_path, cells):
    stored = runs(tmp_path)
    assert stored["run_key"].is_unique, stored[["run_id", "refiner", "seed", "status"]]
    assert sorted(zip(stored["refiner"], stored["seed"], stored["status"], strict=True)) == \
        sorted((refiner, seed, "ok") for refiner, seed in cells)
    return stored


@pytest.mark.slow
def test_sigkill_of_compare_then_the_same_command_runs_only_what_is_missing(tmp_path, env):
    args = compare_command(tmp_path, "--task", "toy", "--refiner", "identity", "blocking",
                           "--seeds", "0", "1", "2")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    blocked = wait_for(tmp_path / "signals" / "blocked.pid", proc)
    assert int(blocked.read_text()) == proc.pid  # one cell after another: mid-cell in compare
    before = runs(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(before["refiner"]) == ["identity"] * 3

    again = run(args, env)
    assert again.returncode == 0, again.stderr
    assert "6 cells: 3 cached, 3 to run" in again.stderr
    cells = [(r, s) for r in ("identity", "blocking") for s in (0, 1, 2)]
    stored = assert_one_ok_run_per_cell(tmp_path, cells)
    assert set(before["run_id"]) <= set(stored["run_id"])  # nothing lost

    third = run(args, env)
    assert third.returncode == 0 and "6 cells: 6 cached, 0 to run" in third.stderr
    assert "6 cells: 0 run, 6 cached, 0 failed, 0 skipped" in third.stdout
    assert {"blocking", "identity"} <= set(configurations(third.stdout))


@pytest.mark.slow
def test_local_cluster_runs_a_smoke_matrix_and_a_rerun_is_all_cached(tmp_path, env):
    report = tmp_path / "compare.json"
    args = compare_command(tmp_path, "--task", "analytic", "--refiner", "identity", "mse",
                           "--seeds", "0", "1", "--workers", "2", "--metric", "mse", "mmd",
                           "--json", str(report))
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    threads = threads_per_cell(2)
    assert f"starting 2 worker processes with {threads} torch thread(s) each" in err
    stored = assert_one_ok_run_per_cell(tmp_path, [(r, s) for r in ("identity", "mse")
                                                   for s in (0, 1)])
    assert set(stored["torch_threads"]) == {threads}
    cells = json.loads(report.read_text())["cells"]
    pids = {int(c["where"].rsplit(":", 1)[1]) for c in cells}
    assert proc.pid not in pids and 1 <= len(pids) <= 2  # the cells ran in worker processes
    assert "mse" in configurations(out) and "4 cells: 4 run, 0 cached" in out

    again = run(args, env)
    assert again.returncode == 0, again.stderr
    assert "4 cells: 4 cached, 0 to run" in again.stderr
    assert "starting" not in again.stderr  # nothing to run: no cluster
    assert runs(tmp_path)["run_id"].nunique() == 4


def thread_variables():
    return [os.environ.get(name) for name in THREAD_VARIABLES]


@pytest.mark.slow
def test_local_workers_get_the_thread_variables_they_are_given():
    """Dask sets OMP_NUM_THREADS=1 in its workers by default; ours must win (torch reads it at
    start; each cell also sets torch's threads itself)."""
    with local_client(1, 3) as client:
        assert client.submit(thread_variables, pure=False).result() == ["3"] * 3


@pytest.mark.slow
def test_a_worker_killed_mid_cell_is_retried_not_lost_not_duplicated(tmp_path, env):
    args = compare_command(tmp_path, "--task", "toy", "--refiner", "blocking", "identity",
                           "--workers", "2")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    worker = int(wait_for(tmp_path / "signals" / "blocked.pid", proc).read_text())
    assert worker != proc.pid
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    retries = list((tmp_path / "signals").glob("fit-0-*"))
    assert len(retries) == 1 and retries[0].name != f"fit-0-{worker}"
    assert_one_ok_run_per_cell(tmp_path, [("blocking", 0), ("identity", 0)])
    again = run(args, env)
    assert again.returncode == 0 and "2 cells: 2 cached, 0 to run" in again.stderr


@pytest.mark.slow
def test_a_cell_whose_worker_dies_on_every_try_is_stored_failed_and_runs_again(tmp_path, env):
    args = compare_command(tmp_path, "--task", "toy", "--refiner", "blocking", "identity",
                           "--workers", "2")
    no_retries = env | {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    proc = subprocess.Popen(args, env=no_retries, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    os.kill(int(wait_for(tmp_path / "signals" / "blocked.pid", proc).read_text()),
            signal.SIGKILL)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1, err
    assert "failed: blocking on toy, seed 0: WorkerDied: the worker process running this " \
           "cell died" in err
    stored = runs(tmp_path)
    assert sorted(zip(stored["refiner"], stored["status"], strict=True)) == [
        ("blocking", "failed"), ("identity", "ok")]
    assert "WorkerDied" in stored.loc[stored["status"] == "failed", "error_message"].iloc[0]

    again = run(args, env)  # the failed cell is not cached; its next fit does not block
    assert again.returncode == 0, again.stderr
    assert "2 cells: 1 cached, 1 to run" in again.stderr
    assert_one_ok_run_per_cell(tmp_path, [("blocking", 0), ("identity", 0)])


@pytest.mark.slow
def test_sigkill_of_compare_ends_its_dask_workers(tmp_path, env):
    args = compare_command(tmp_path, "--task", "toy", "--refiner", "blocking", "--workers", "2",
                           "--seeds", "0", "1")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    worker = int(wait_for(tmp_path / "signals" / "blocked.pid", proc).read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert gone(worker, timeout=30), f"worker {worker} outlived the killed compare"
    again = run(args, env)
    assert again.returncode == 0, again.stderr
    assert_one_ok_run_per_cell(tmp_path, [("blocking", 0), ("blocking", 1)])


@pytest.mark.slow
def test_cells_run_on_an_existing_dask_cluster(tmp_path, env):
    scheduler_file = tmp_path / "scheduler.json"
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(scheduler_file, started[0], timeout=120)
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(scheduler_file), "--nthreads", "1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        args = compare_command(tmp_path, "--task", "toy", "--refiner", "identity", "exploding",
                               "--scheduler-file", str(scheduler_file), "--threads-per-cell",
                               "2")
        first = run(args, env)
        assert first.returncode == 1, first.stderr  # exploding fails, identity does not
        assert "on 1 Dask worker(s)" in first.stderr and "2 torch thread(s) each" in first.stderr
        assert "failed: exploding on toy, seed 0: RuntimeError: diverged" in first.stderr
        stored = runs(tmp_path)
        assert sorted(zip(stored["refiner"], stored["status"], strict=True)) == [
            ("exploding", "failed"), ("identity", "ok")]
        # Dask's worker starts with OMP_NUM_THREADS=1; the cell set torch's threads itself
        assert set(stored["torch_threads"]) == {2}
        again = run(args, env)
        assert "2 cells: 1 cached, 1 to run" in again.stderr
        assert runs(tmp_path)["run_key"].is_unique
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_processes_generating_one_data_set_wait_for_each_other(tmp_path, env):
    log = tmp_path / "generations"
    env = env | {"PB_TEST_GENERATIONS": str(log), "PB_TEST_GENERATE_SECONDS": "6"}
    args = [sys.executable, "-m", "perfekt_bench", "data", "generate", "--task", "toy-watched",
            "--budget", "smoke", "--cache-dir", str(tmp_path / "cache")]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    results = [p.communicate(timeout=TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    assert len(log.read_text().splitlines()) == 1  # generated once; the others read it
    folders = {line for out, _ in results for line in out.splitlines()
               if line.startswith("cached in")}
    assert len(folders) == 1
    assert any("waiting for another process that is making data set" in err
               for _, err in results)
