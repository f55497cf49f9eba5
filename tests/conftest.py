import pytest

from perfekt_bench import PluginHost


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
