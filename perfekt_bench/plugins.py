"""The plugin host: loads entry points into a pluggy manager and fills the registries.

Built-in plugins are found through the same entry-point group (``perfekt_bench``) as any
third-party distribution; the only difference is the distribution they belong to, which lets
``PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD`` turn off everything but the built-ins.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import PerfektBenchWarning, UnknownNameError
from .metric import Metric
from .refiner import Refiner
from .registry import Origin, Registry
from .runs import PluginOrigin
from .task import Task

if TYPE_CHECKING:
    from .runs import RunResult

hookimpl = pluggy.HookimplMarker("perfekt_bench")

ENTRY_POINT_GROUP = "perfekt_bench"
BUILTIN_DISTRIBUTION = "perfekt-bench"
DISABLE_AUTOLOAD_ENV = "PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "PERFEKT_BENCH_BLOCK_PLUGINS"
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or registered, and why."""

    plugin: str
    distribution: str | None
    error: str

    def describe(self) -> str:
        return (f"plugin {self.plugin!r} ({self.distribution or 'unknown distribution'}) "
                f"failed to load: {self.error}")


def autoload_disabled() -> bool:
    """Whether ``PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD`` asks to load the built-ins only: any
    value but empty, ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in _FALSE


class PluginHost:
    """A typed façade over the pluggy manager: core code calls this, never ``pm.hook``.

    ``autoload=False`` (or ``PERFEKT_BENCH_DISABLE_PLUGIN_AUTOLOAD=1``) loads only the
    built-in plugins of the ``perfekt-bench`` distribution. ``PERFEKT_BENCH_BLOCK_PLUGINS`` is a
    comma-separated list of names never to load: a plugin's entry-point name (the ``plugin``
    column of ``perfekt-bench plugins``), a distribution's name (all its plugins), or a task,
    refiner or metric name (that one class); a name matching none of these is a warning.
    ``plugins`` are extra plugin objects registered by hand (``(name, obj)``).
    """

    def __init__(self, *, autoload: bool | None = None,
                 plugins: Iterable[tuple[str, Any]] = ()):
        if autoload is None:
            autoload = not autoload_disabled()
        self.pm = pluggy.PluginManager("perfekt_bench")
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.origins: dict[str, Origin] = {}
        blocked = [n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()]
        used = self._load_entry_points(third_party=autoload, blocked=set(blocked))
        for name, obj in plugins:
            self._register(name, obj, Origin(name))
        self._check_pending()
        self.tasks: Registry[Task] = Registry("task", Task)
        self.refiners: Registry[Refiner] = Registry("refiner", Refiner)
        self.metrics: Registry[Metric] = Registry("metric", Metric)
        self._fill("perfekt_bench_register_tasks", self.tasks)
        self._fill("perfekt_bench_register_refiners", self.refiners)
        self._fill("perfekt_bench_register_metrics", self.metrics)
        for registry in (self.tasks, self.refiners, self.metrics):
            for name in blocked:
                if name in registry:
                    registry.remove(name)
                    used.add(name)
        unknown = [n for n in blocked if n not in used]
        if unknown:
            warnings.warn(f"{BLOCK_ENV} names {', '.join(map(repr, unknown))}, which match no "
                          "plugin, distribution, task, refiner or metric; see "
                          "'perfekt-bench plugins'", PerfektBenchWarning, stacklevel=2)

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self, *, third_party: bool, blocked: set[str]) -> set[str]:
        """Load the group's entry points; the names in ``blocked`` that matched one."""
        seen: set[str] = set()
        used: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else None
            if ep.name in seen:
                continue
            seen.add(ep.name)
            hits = {ep.name, dist} & blocked
            hits |= {b for b in blocked if _canonical(b) == _canonical(dist)}
            if hits:
                used |= hits
                continue
            if not third_party and _canonical(dist) != _canonical(BUILTIN_DISTRIBUTION):
                continue
            origin = Origin(ep.name, dist, ep.dist.version if ep.dist is not None else None)
            try:
                obj = ep.load()
            except Exception as exc:  # any import error of a plugin must not stop the others
                self.failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
                continue
            self._register(ep.name, obj, origin)
        return used

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

    def _origin(self, plugin: str) -> Origin:
        return self.origins.get(plugin, Origin(plugin))

    def _fill(self, hook_name: str, registry: Registry) -> None:
        """Call one registration hook plugin by plugin, so each class knows its origin."""
        for name, impl in self._impls(hook_name):
            try:
                impl.function(**{arg: registry._from(self._origin(name))
                                 for arg in impl.argnames})
            except Exception as exc:
                self.failures.append(PluginFailure(
                    name, self._origin(name).distribution,
                    f"{hook_name}: {type(exc).__name__}: {exc}"))

    def _impls(self, hook_name: str):
        hook = getattr(self.pm.hook, hook_name)
        return [(impl.plugin_name, impl) for impl in reversed(hook.get_hookimpls())]

    def _call_each(self, hook_name: str, what: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of a hook on its own; one that raises becomes a warning
        naming its plugin, and the others still run. The results that are not None."""
        results = []
        for name, impl in self._impls(hook_name):
            try:
                out = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:  # a plugin's hook must not lose a finished run
                warnings.warn(f"plugin {name!r} failed while {what}: {type(exc).__name__}: "
                              f"{exc}", PerfektBenchWarning, stacklevel=3)
                continue
            if out is not None:
                results.append(out)
        return results

    # -- the typed façade ------------------------------------------------------------------

    def _lookup(self, registry: Registry, name: str):
        try:
            return registry.get(name)
        except UnknownNameError as exc:
            if self.failures:
                notes = "; ".join(f.describe() for f in self.failures)
                raise UnknownNameError(registry.kind, name, exc.known, note=notes) from None
            raise

    def task(self, name: str) -> Task:
        return self._lookup(self.tasks, name)()

    def refiner_class(self, name: str) -> type[Refiner]:
        return self._lookup(self.refiners, name)

    def metric_class(self, name: str) -> type[Metric]:
        return self._lookup(self.metrics, name)

    def metric_instances(self, names: Iterable[str] | None = None) -> list[Metric]:
        return [self.metric_class(n)() for n in (names or self.metrics.names())]

    def origin_of(self, kind: str, name: str) -> PluginOrigin:
        """Which plugin and distribution registered the task, refiner or metric ``name``."""
        registry = {"task": self.tasks, "refiner": self.refiners, "metric": self.metrics}[kind]
        origin = registry.origin(name)
        return PluginOrigin(kind, name, origin.plugin, origin.distribution, origin.version)

    def run_finished(self, result: RunResult) -> None:
        self._call_each("perfekt_bench_run_finished", "handling the finished run",
                        result=result)

    def draw_figures(self, run_dir: Path, out_dir: Path) -> list[Path]:
        """Every figure plugin's figures of ``run_dir``, drawn into ``out_dir``."""
        drawn = self._call_each("perfekt_bench_draw_figures", f"drawing figures of {run_dir}",
                                run_dir=Path(run_dir), out_dir=Path(out_dir))
        return [Path(p) for paths in drawn for p in paths]

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
    """A class's ``summary`` attribute, else the first sentence of its docstring's first
    paragraph (lines joined, so a sentence wrapped in the source is not cut)."""
    text = getattr(cls, "summary", "") or (cls.__doc__ or "")
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    match = re.match(r"(.+?[.!?])(?:\s+[A-Z(]|$)", paragraph)
    return match.group(1) if match else paragraph


def _canonical(name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", (name or "").lower())


@functools.lru_cache(maxsize=1)
def default_host() -> PluginHost:
    """The process-wide host used by the CLI (built once, on first use)."""
    return PluginHost()
