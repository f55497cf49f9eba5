"""A third party registers a refiner by installing a package: a real distribution, built and
installed with pip into a temporary folder, found through the ``perfekt_bench`` entry points."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "perfekt-bench-meanshift"
version = "0.3.1"

[project.entry-points.perfekt_bench]
meanshift = "pb_meanshift"

[tool.setuptools]
py-modules = ["pb_meanshift"]
"""

MODULE = '''
"""Shifts each refined feature by the difference of fullsim and fastsim means."""
import numpy as np
from perfekt_bench import Refiner, Refinement, hookimpl


class MeanShift(Refiner):
    """Moves fastsim by the mean difference to fullsim."""

    name = "mean-shift"

    def __init__(self, *, seed=0, device="cpu"):
        self.seed, self.device = seed, device

    def fit(self, train, validation, *, progress=False):
        self.shift_ = train.x_full.mean(0) - train.x_fast.mean(0)
        self.history_ = [{"epoch": 0, "shift": float(self.shift_[0])}]
        return self

    def refine(self, x_fast, g):
        return Refinement((x_fast + self.shift_).astype(np.float32))

    def _save_state(self, folder):
        np.save(folder / "shift.npy", self.shift_)

    def _load_state(self, folder):
        self.shift_ = np.load(folder / "shift.npy")


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(MeanShift)
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("thirdparty")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (src / "pb_meanshift.py").write_text(MODULE)
    site = root / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(site), str(src)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {"PYTHONPATH": str(site)}, root


def cli(env, *args, cwd):
    """The CLI in a subprocess; the environment is read now, so that it holds this test's
    temporary cache and results folders (conftest), never the user's."""
    return subprocess.run([sys.executable, "-m", "perfekt_bench", *args],
                          env=os.environ | env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_installed_refiner_is_listed(installed):
    env, root = installed
    proc = cli(env, "plugins", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(proc.stdout)["plugins"]}
    row = rows[("refiner", "mean-shift")]
    assert row["distribution"] == "perfekt-bench-meanshift" and row["version"] == "0.3.1"
    assert row["summary"] == "Moves fastsim by the mean difference to fullsim."


@pytest.mark.slow
def test_installed_refiner_runs(installed):
    env, root = installed
    proc = cli(env, "run", "--task", "analytic", "--refiner", "mean-shift", "--budget", "smoke",
               "--quiet", "--metric", "mse", "--json", "out.json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    mse = json.loads((root / "out.json").read_text())["metrics"]["mse"]
    assert mse["refined"]["value"] != mse["fastsim"]["value"]


@pytest.mark.slow
def test_autoload_switch_hides_it(installed):
    env, root = installed
    env = env | {"PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = cli(env, "plugins", "--json", cwd=root)
    names = {r["name"] for r in json.loads(proc.stdout)["plugins"]}
    assert "mean-shift" not in names and "identity" in names
