"""The plugin host: entry points, failures reported by name, autoload switch, registries."""

import importlib.metadata
import types

import pytest

from perfekt_bench import PluginHost, Refinement, Refiner, UnknownNameError, hookimpl, hookspecs
from perfekt_bench.plugins import DISABLE_AUTOLOAD_ENV

BUILTIN_PLUGINS = {"analytic", "identity", "fastperfekt", "metrics"}


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
