import os
import shutil
import tempfile
from pathlib import Path

import pytest

from perfekt_bench import PluginHost

#: what the suite must never touch, whatever the environment says
USER_LOCATIONS = ("PERFEKT_BENCH_CACHE", "PERFEKT_BENCH_RESULTS", "XDG_CACHE_HOME")
_SESSION_ROOT: Path | None = None


def pytest_configure(config):
    """Before any fixture of any scope: the data cache and results folder of this process and
    of every process it starts point into a temporary folder, never the user's."""
    global _SESSION_ROOT
    _SESSION_ROOT = Path(tempfile.mkdtemp(prefix="perfekt-bench-tests-"))
    os.environ["PERFEKT_BENCH_CACHE"] = str(_SESSION_ROOT / "cache")
    os.environ["PERFEKT_BENCH_RESULTS"] = str(_SESSION_ROOT / "results")
    os.environ["XDG_CACHE_HOME"] = str(_SESSION_ROOT / "xdg-cache")


def pytest_unconfigure(config):
    if _SESSION_ROOT is not None:
        shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own cache and results folders, never the user's."""
    monkeypatch.setenv("PERFEKT_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PERFEKT_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PERFEKT_BENCH_BLOCK_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def host():
    return PluginHost()


@pytest.fixture(scope="session")
def builtins():
    """The built-in plugins only: for tests that count tasks, refiners or metrics, which must
    pass whatever third-party plugins are installed."""
    return PluginHost(autoload=False)
