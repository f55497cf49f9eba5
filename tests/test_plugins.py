"""The plugin host: entry points, failures reported by name, autoload switch, registries."""

import importlib.metadata
import types

import pytest

from perfekt_bench import (
    PerfektBenchWarning,
    PluginHost,
    Refinement,
    Refiner,
    UnknownNameError,
    hookimpl,
    hookspecs,
)
from perfekt_bench.plugins import DISABLE_AUTOLOAD_ENV

BUILTIN_PLUGINS = {"analytic", "identity", "fastperfekt", "metrics", "figures"}


def fake_entry_points(monkeypatch, extra):
    """Add entry points (name, module path) of an unknown distribution to the real ones."""
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        found = list(real(**kwargs))
        if kwargs.get("group") == "perfekt_bench":
            found += [importlib.metadata.EntryPoint(name, value, "perfekt_bench")
                      for name, value in extra]
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


class ShiftRefiner(Refiner):
    """Moves fastsim by a constant."""

    name = "shift-test"

    def __init__(self, *, offset=0.0, seed=0, device="cpu"):
        self.offset, self.seed, self.device = offset, seed, device

    def fit(self, train, validation, *, progress=False):
        self.history_ = []
        return self

    def refine(self, x_fast, g):
        return Refinement(x_fast + self.offset)


def test_builtins_register_through_entry_points(host):
    assert set(host.origins) >= BUILTIN_PLUGINS
    for plugin in BUILTIN_PLUGINS:
        assert host.origins[plugin].distribution == "perfekt-bench"
    catalogue = {(row["kind"], row["name"]): row for row in host.catalogue()}
    assert catalogue[("task", "analytic")]["distribution"] == "perfekt-bench"
    assert catalogue[("refiner", "mse")]["plugin"] == "fastperfekt"
    assert catalogue[("metric", "omniscient_mmd")]["summary"]
    assert not host.failures


def test_broken_plugin_is_reported_and_the_rest_load(monkeypatch):
    fake_entry_points(monkeypatch, [("broken", "perfekt_bench_no_such_module_xyz")])
    host = PluginHost()
    (failure,) = host.failures
    assert failure.plugin == "broken"
    assert "ModuleNotFoundError" in failure.error
    assert "analytic" in host.tasks and "mse" in host.refiners


def test_misspelled_hook_is_rejected_by_check_pending():
    plugin = types.SimpleNamespace(perfekt_bench_register_refinerz=hookimpl(lambda registry: None))
    host = PluginHost(plugins=[("typo", plugin)])
    (failure,) = host.failures
    assert failure.plugin == "typo" and "perfekt_bench_register_refinerz" in failure.error
    assert "identity" in host.refiners


def test_hook_that_raises_is_reported():
    def register(registry):
        raise RuntimeError("boom")

    plugin = types.SimpleNamespace(perfekt_bench_register_refiners=hookimpl(register))
    host = PluginHost(plugins=[("raising", plugin)])
    assert [f.plugin for f in host.failures] == ["raising"]
    assert "boom" in host.failures[0].error


def test_autoload_switch_keeps_only_builtins(monkeypatch):
    fake_entry_points(monkeypatch, [("third", "perfekt_bench_no_such_module_xyz")])
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    host = PluginHost()
    assert not host.failures  # the third-party entry point was never imported
    assert set(host.origins) >= BUILTIN_PLUGINS


def test_block_by_name(monkeypatch):
    monkeypatch.setenv("PERFEKT_BENCH_BLOCK_PLUGINS", "identity")
    host = PluginHost()
    assert "identity" not in host.refiners and "mse" in host.refiners


def test_registered_class_is_runnable_and_attributed():
    plugin = types.SimpleNamespace(
        perfekt_bench_register_refiners=hookimpl(lambda registry: registry.add(ShiftRefiner)))
    host = PluginHost(plugins=[("mine", plugin)])
    assert host.refiners.origin("shift-test").plugin == "mine"
    assert host.refiner_class("shift-test") is ShiftRefiner


def test_duplicate_name_names_both_plugins():
    class Clash(ShiftRefiner):
        name = "identity"

    plugin = types.SimpleNamespace(
        perfekt_bench_register_refiners=hookimpl(lambda registry: registry.add(Clash)))
    host = PluginHost(plugins=[("clash", plugin)])
    (failure,) = host.failures
    assert "'identity'" in failure.error and "clash" in failure.error


def test_unknown_name_lists_known_ones(host):
    with pytest.raises(UnknownNameError) as info:
        host.refiner_class("nope")
    message = str(info.value)
    assert "unknown refiner 'nope'" in message
    for name in ("identity", "mse"):
        assert name in message


def test_run_finished_hook_is_called(tmp_path):
    seen = []
    plugin = types.SimpleNamespace(
        perfekt_bench_run_finished=hookimpl(lambda result: seen.append(result)))
    from perfekt_bench import RunConfig, run

    host = PluginHost(plugins=[("tracker", plugin)])
    result = run(RunConfig("analytic", "identity", budget="smoke", progress=False,
                           metrics=["mse"], latency_repeats=0), host=host)
    assert seen == [result]


def test_every_hook_is_documented_and_tested():
    """datasette's meta-test: no hook without a docstring, none without a test."""
    import pathlib

    tests = "".join(p.read_text() for p in pathlib.Path(__file__).parent.glob("*.py"))
    hooks = [name for name in dir(hookspecs) if name.startswith("perfekt_bench_")]
    assert len(hooks) >= 4
    for name in hooks:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.split()) > 15, f"{name} is not documented"
        assert name in tests, f"{name} has no test"


def test_draw_figures_hook_lets_a_plugin_add_a_figure(tmp_path, capsys):
    """``perfekt-bench plot`` asks every perfekt_bench_draw_figures implementation; a plugin
    that raises is a warning naming it, the others still draw."""
    from perfekt_bench import RunConfig, run

    def draw(run_dir, out_dir):
        path = out_dir / "mine.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(run_dir))
        return [path]

    def broken(run_dir, out_dir):
        raise RuntimeError("no canvas")

    mine = types.SimpleNamespace(perfekt_bench_draw_figures=hookimpl(draw))
    bad = types.SimpleNamespace(perfekt_bench_draw_figures=hookimpl(broken))
    host = PluginHost(plugins=[("mine", mine), ("bad", bad)])
    result = run(RunConfig("analytic", "identity", budget="smoke", progress=False,
                           metrics=["mse"], latency_repeats=0, plots=False,
                           results_dir=str(tmp_path)), host=host)
    with pytest.warns(PerfektBenchWarning, match="plugin 'bad' failed.*no canvas"):
        paths = host.draw_figures(result.run_dir, tmp_path / "out")
    names = {p.name for p in paths}
    assert "mine.txt" in names and "distributions.png" in names  # the built-in figures too
    assert (tmp_path / "out" / "mine.txt").read_text() == str(result.run_dir)


def test_unknown_name_says_which_plugin_failed(monkeypatch):
    """A refiner whose distribution failed to import is not just 'unknown': the message names
    the plugin, its distribution and the import error."""
    fake_entry_points(monkeypatch, [("broken", "perfekt_bench_no_such_module_xyz")])
    host = PluginHost()
    with pytest.raises(UnknownNameError) as info:
        host.refiner_class("from-broken")
    message = str(info.value)
    assert "unknown refiner 'from-broken'" in message
    assert "plugin 'broken'" in message and "ModuleNotFoundError" in message


@pytest.mark.parametrize("value, disabled", [("1", True), ("yes", True), ("0", False),
                                             ("false", False), ("", False), ("off", False)])
def test_autoload_switch_reads_a_boolean(monkeypatch, value, disabled):
    fake_entry_points(monkeypatch, [("third", "perfekt_bench_no_such_module_xyz")])
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, value)
    host = PluginHost()
    assert bool(host.failures) is not disabled  # the third-party entry point was tried or not


def test_block_by_distribution_and_by_registered_name(monkeypatch):
    monkeypatch.setenv("PERFEKT_BENCH_BLOCK_PLUGINS", "mse, kpd")
    host = PluginHost()
    assert "mse" not in host.refiners and "twostage" in host.refiners
    assert "kpd" not in host.metrics and "fpd" in host.metrics
    monkeypatch.setenv("PERFEKT_BENCH_BLOCK_PLUGINS", "perfekt-bench")
    host = PluginHost()
    assert "mse" not in host.refiners and "analytic" not in host.tasks
    # whatever other distributions are installed stay
    assert all(host.refiners.origin(n).distribution != "perfekt-bench"
               for n in host.refiners.names())


def test_block_of_an_unknown_name_warns(monkeypatch):
    monkeypatch.setenv("PERFEKT_BENCH_BLOCK_PLUGINS", "identity,no-such-thing")
    with pytest.warns(PerfektBenchWarning, match="'no-such-thing'.*match no plugin"):
        host = PluginHost()
    assert "identity" not in host.refiners


def test_summaries_are_whole_sentences(host):
    """A summary from a docstring is its first whole sentence, even when the source wraps it;
    a class's own ``summary`` attribute is shown as it is."""
    registries = {"task": host.tasks, "refiner": host.refiners, "metric": host.metrics}
    for row in host.catalogue():
        cls = registries[row["kind"]].get(row["name"])
        summary = row["summary"]
        assert summary and "\n" not in summary, row
        if getattr(cls, "summary", ""):
            assert summary == cls.summary
        else:
            assert summary.endswith((".", "!", "?")), (row["name"], summary)
            assert " ".join(cls.__doc__.split()).startswith(summary)
    cms = {r["name"]: r for r in host.catalogue()}["cms-mdmm"]["summary"]
    assert cms.endswith(".") and "MDMM" in cms and "\n" not in cms


def test_runs_record_which_distribution_supplied_each_part(tmp_path):
    from perfekt_bench import RunConfig, run
    from perfekt_bench.results import ResultsStore

    plugin = types.SimpleNamespace(
        perfekt_bench_register_refiners=hookimpl(lambda registry: registry.add(ShiftRefiner)))
    host = PluginHost(plugins=[("mine", plugin)])
    result = run(RunConfig("analytic", "shift-test", budget="smoke", progress=False,
                           metrics=["mse", "mmd"], latency_repeats=0, plots=False,
                           results_dir=str(tmp_path)), host=host)
    origins = {(p.kind, p.name): p for p in result.plugins}
    assert origins[("refiner", "shift-test")].plugin == "mine"
    assert origins[("task", "analytic")].distribution == "perfekt-bench"
    rows = ResultsStore(tmp_path).read()
    assert set(rows["refiner_distribution"]) == {"mine"}
    assert set(rows["task_distribution"]) == {"perfekt-bench"}
    assert set(rows["metric_distribution"]) == {"perfekt-bench"}
    assert rows["task_plugin_version"].notna().all()
