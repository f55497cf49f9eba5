"""Runs killed with SIGKILL at staggered moments leave nothing that the next command does not
clean up: no temporaries, no run folder without its store file (nor the reverse), no truncated
figure."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def command(root: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "perfekt_bench", "run", "--task", "analytic", "--refiner",
            "mse", "--budget", "smoke", "--seed", str(seed), "--quiet", "--metric", "mse",
            "--metric", "mmd", "--results-dir", str(root / "results"), "--cache-dir",
            str(root / "cache")]


#: moments to kill at, each recognised in the file tree while the run is at it
MOMENTS = {
    "caching data": lambda r: any((r / "cache").rglob(".*.tmp")),
    "assembling the run folder": lambda r: any((r / "results" / "runs").glob(".*.tmp")),
    "run folder in place": lambda r: any(p for p in (r / "results" / "runs").glob("2*")),
    "writing the store file": lambda r: any((r / "results" / "store").glob(".*.tmp")),
    "drawing figures": lambda r: any((r / "results" / "runs").glob("*/figures")),
    "writing a figure": lambda r: any((r / "results" / "runs").glob("*/figures/.*.tmp")),
}


def debris(root: Path) -> list[str]:
    """What a killed command may leave and the next one must have removed."""
    import matplotlib.image

    found = [str(p) for p in root.rglob("*.tmp")]
    runs = root / "results" / "runs"
    store = root / "results" / "store"
    folders = {p.name for p in runs.iterdir()} if runs.is_dir() else set()
    stored = {p.stem for p in store.glob("*.parquet")} if store.is_dir() else set()
    found += [f"run folder without store file: {n}" for n in folders - stored]
    found += [f"store file without run folder: {n}" for n in stored - folders]
    for png in root.rglob("*.png"):
        try:
            matplotlib.image.imread(png)
        except Exception as exc:  # a truncated PNG does not decode
            found.append(f"unreadable {png}: {exc}")
    return found


def kill_when(root: Path, seed: int, moment, env) -> bool:
    """Start a run, SIGKILL it (and its children) as soon as ``moment`` is seen; whether it
    was seen before the run ended by itself."""
    proc = subprocess.Popen(command(root, seed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    seen = False
    while proc.poll() is None:
        try:
            seen = moment(root)
        except OSError:  # a folder renamed while we looked
            seen = False
        if seen:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    return seen


@pytest.mark.slow
def test_kills_at_every_moment_leave_no_debris(tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    hit, left = [], 0
    for seed, (name, moment) in enumerate(MOMENTS.items()):
        root = tmp_path / f"kill-{seed}"
        if kill_when(root, seed, moment, env):
            hit.append(name)
            left += len(debris(root))
        # the next command sweeps what the killed one left
        done = subprocess.run(command(root, 99), env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, (name, done.stderr)
        assert debris(root) == [], name
        assert len(list((root / "results" / "store").glob("*.parquet"))) >= 1
    assert len(hit) >= 4, hit  # most moments were caught in the act
    assert left > 0  # and some left debris that the next command removed


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: Ctrl-C's default action, whatever this test process inherited (a shell
    starts background jobs, such as a CI script run with `&`, with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_during_generation_says_what_was_kept(tmp_path):
    """Ctrl-C while PYTHIA parts are being made: the finished parts stay for resuming, and the
    command says so (exit 130, no traceback)."""
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "perfekt_bench",
                             "data", "generate",
                             "--task", "jets", "--size", "30000", "--workers", "1",
                             "--cache-dir", str(cache), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"OMP_NUM_THREADS": "1"},
                            preexec_fn=_ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + 300
    while not list(cache.rglob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(cache.rglob("part-*.parquet")), "no part was finished in time"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # say where it was stuck: faulthandler prints the stacks
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"still running 120 s after Ctrl-C; its stacks:\n{err[-8000:]}")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "perfekt-bench: interrupted; no run was stored"
    assert any("kept" in line and "finished part(s) of jets" in line and "resumes" in line
               for line in lines), err
    assert list(cache.rglob("part-*.parquet"))  # kept, for the same command to resume
