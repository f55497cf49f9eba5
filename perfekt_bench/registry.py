"""Registries that plugins fill: name → class, with where each class came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Where a registered class came from: the plugin's entry-point name and distribution."""

    plugin: str
    distribution: str | None = None
    version: str | None = None


class Registry(Generic[T]):
    """Classes of one kind (task, refiner or metric) by their ``name`` attribute."""

    def __init__(self, kind: str, base: type):
        self.kind = kind
        self.base = base
        self._classes: dict[str, type[T]] = {}
        self._origins: dict[str, Origin] = {}
        self._current = Origin("<direct>")

    def add(self, cls: type[T]) -> type[T]:
        """Register ``cls`` under ``cls.name``; usable as a class decorator."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{self._current.plugin}: {cls!r} is not a {self.base.__name__} "
                            f"subclass")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self._current.plugin}: {cls.__name__} has no 'name'")
        if name in self._classes and self._classes[name] is not cls:
            other = self._origins[name].plugin
            raise ValueError(f"{self.kind} {name!r} registered twice: by plugin {other!r} "
                             f"and by plugin {self._current.plugin!r}")
        self._classes[name] = cls
        self._origins[name] = self._current
        return cls

    def get(self, name: str) -> type[T]:
        try:
            return self._classes[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._classes)) from None

    def remove(self, name: str) -> None:
        """Forget ``name`` (a blocked plugin class)."""
        self._classes.pop(name, None)
        self._origins.pop(name, None)

    def origin(self, name: str) -> Origin:
        return self._origins[name]

    def names(self) -> list[str]:
        return sorted(self._classes)

    def items(self) -> list[tuple[str, type[T]]]:
        return [(n, self._classes[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __len__(self) -> int:
        return len(self._classes)

    def _from(self, origin: Origin) -> Any:
        """Attribute what is added next to ``origin`` (used by the plugin host)."""
        self._current = origin
        return self
