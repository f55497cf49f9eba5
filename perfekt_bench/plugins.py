"""The plugin host: loads entry points into a pluggy manager and fills the registries.

Built-in plugins are found through the same entry-point group (``perfekt_bench``) as any
third-party distribution; the only difference is the distribution they belong to, which lets
``PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD`` turn off everything but the built-ins.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .metric import Metric
from .refiner import Refiner
from .registry import Origin, Registry
from .task import Task

hookimpl = pluggy.HookimplMarker("perfekt_bench")

ENTRY_POINT_GROUP = "perfekt_bench"
BUILTIN_DISTRIBUTION = "perfekt-bench"
DISABLE_AUTOLOAD_ENV = "PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "PERFEKT_BENCH_BLOCK_PLUGINS"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or registered, and why."""

    plugin: str
    distribution: str | None
    error: str


class PluginHost:
    """A typed façade over the pluggy manager: core code calls this, never ``pm.hook``.

    ``autoload=False`` (or the environment variable ``PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD``
    set to a non-empty value) loads only the built-in plugins of the ``perfekt-bench``
    distribution. ``PERFEKT_BENCH_BLOCK_PLUGINS`` is a comma-separated list of plugin names
    never to load. ``plugins`` are extra plugin objects registered by hand (``(name, obj)``).
    """

    def __init__(self, *, autoload: bool | None = None,
                 plugins: Iterable[tuple[str, Any]] = ()):
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        self.pm = pluggy.PluginManager("perfekt_bench")
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.origins: dict[str, Origin] = {}
        for name in filter(None, os.environ.get(BLOCK_ENV, "").split(",")):
            self.pm.set_blocked(name.strip())
        self._load_entry_points(third_party=autoload)
        for name, obj in plugins:
            self._register(name, obj, Origin(name))
        self._check_pending()
        self.tasks: Registry[Task] = Registry("task", Task)
        self.refiners: Registry[Refiner] = Registry("refiner", Refiner)
        self.metrics: Registry[Metric] = Registry("metric", Metric)
        self._fill("perfekt_bench_register_tasks", self.tasks)
        self._fill("perfekt_bench_register_refiners", self.refiners)
        self._fill("perfekt_bench_register_metrics", self.metrics)

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self, *, third_party: bool) -> None:
        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else None
            if ep.name in seen or self.pm.is_blocked(ep.name):
                continue
            seen.add(ep.name)
            if not third_party and _canonical(dist) != _canonical(BUILTIN_DISTRIBUTION):
                continue
            origin = Origin(ep.name, dist, ep.dist.version if ep.dist is not None else None)
            try:
                obj = ep.load()
            except Exception as exc:  # any import error of a plugin must not stop the others
                self.failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
                continue
            self._register(ep.name, obj, origin)

    def _register(self, name: str, obj: Any, origin: Origin) -> None:
        try:
            self.pm.register(obj, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.failures.append(PluginFailure(name, origin.distribution, str(exc)))
            return
        self.origins[name] = origin

    def _check_pending(self) -> None:
        """Reject plugins whose hook names match no hook (a misspelling), keep the rest."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                self.pm.unregister(exc.plugin)
                origin = self.origins.pop(name, Origin(name))
                self.failures.append(PluginFailure(name, origin.distribution, str(exc)))

    def _fill(self, hook_name: str, registry: Registry) -> None:
        """Call one registration hook plugin by plugin, so each class knows its origin."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            name = impl.plugin_name
            kwargs = {"registry": registry._from(self.origins.get(name, Origin(name)))}
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                self.failures.append(PluginFailure(
                    name, self.origins.get(name, Origin(name)).distribution,
                    f"{hook_name}: {type(exc).__name__}: {exc}"))

    # -- the typed façade ------------------------------------------------------------------

    def task(self, name: str) -> Task:
        return self.tasks.get(name)()

    def refiner_class(self, name: str) -> type[Refiner]:
        return self.refiners.get(name)

    def metric_instances(self, names: Iterable[str] | None = None) -> list[Metric]:
        return [self.metrics.get(n)() for n in (names or self.metrics.names())]

    def run_finished(self, result: Any) -> None:
        self.pm.hook.perfekt_bench_run_finished(result=result)

    def catalogue(self) -> list[dict[str, Any]]:
        """One row per registered class: kind, name, plugin, distribution, version, summary."""
        rows = []
        for registry in (self.tasks, self.refiners, self.metrics):
            for name, cls in registry.items():
                origin = registry.origin(name)
                rows.append({"kind": registry.kind, "name": name, "plugin": origin.plugin,
                             "distribution": origin.distribution, "version": origin.version,
                             "summary": summary_of(cls)})
        return rows


def summary_of(cls: type) -> str:
    """A class's ``summary`` attribute, else the first line of its docstring."""
    text = getattr(cls, "summary", "") or (cls.__doc__ or "").strip()
    return text.splitlines()[0].strip() if text else ""


def _canonical(name: str | None) -> str:
    return (name or "").lower().replace("_", "-")


@functools.lru_cache(maxsize=1)
def default_host() -> PluginHost:
    """The process-wide host used by the CLI (built once, on first use)."""
    return PluginHost()
