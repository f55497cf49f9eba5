"""Conformance suites for plugin authors (after scikit-learn's ``check_estimator`` and
Optuna's shared storage tests).

Subclass a suite in your own tests and override its one fixture::

    from perfekt_bench.testing import RefinerTestCase

    class TestMyRefiner(RefinerTestCase):
        @pytest.fixture
        def refiner(self):
            return MyRefiner(**MyRefiner.tiny_params())

``RefinerTestCase``, ``TaskTestCase`` and ``MetricTestCase`` need pytest (the ``test``
extra); :func:`make_triplets` and :func:`toy_settings`, small data to try a plugin on, do not.
Every built-in task, refiner and metric passes these same suites.
"""

from __future__ import annotations

from typing import Any

from .toys import TOY_NAMES, make_triplets, toy_settings

_SUITES = ("RefinerTestCase", "TaskTestCase", "MetricTestCase")

__all__ = ["TOY_NAMES", "make_triplets", "toy_settings", *_SUITES]


def __getattr__(name: str) -> Any:
    if name in _SUITES:
        try:
            from . import suites
        except ImportError as exc:
            if exc.name != "pytest":
                raise
            raise ImportError(f"perfekt_bench.testing.{name} is a pytest suite and needs "
                              "pytest: pip install 'perfekt-bench[test]' (or pytest)") from exc
        return getattr(suites, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
