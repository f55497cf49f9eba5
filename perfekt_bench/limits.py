"""The allowed range of every number a user gives (options, RunConfig fields), in one place.

The CLI's option types and :meth:`perfekt_bench.RunConfig.validate` both use these rules, so
``--seed`` and ``RunConfig(seed=…)`` refuse the same values with the same message.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigurationError

#: seeds feed numpy's and torch's generators: 0 … 2³² − 1
SEED_RANGE = (0, 2**32 - 1)
#: objects a task generates: at least one, at most 10⁸ (the papers use up to ~10⁷)
SIZE_RANGE = (1, 100_000_000)
#: processes for data generation or cells in parallel
WORKERS_RANGE = (1, 1024)
#: torch threads of one process
THREADS_RANGE = (1, 1024)
#: single-object latency queries of a run (0: latency not measured)
QUERIES_RANGE = (0, 10_000_000)


def describe(low: int, high: int) -> str:
    return f"an integer from {low:,} to {high:,}".replace(",", " ")


def check_int(name: str, value: Any, limits: tuple[int, int]) -> int:
    """``value`` as an int within ``limits``, else a :class:`ConfigurationError` naming
    ``name`` and the range."""
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigurationError(f"{name} must be {describe(low, high)}, got {value!r}")
    try:  # "5e4" is accepted as 50 000; "1.5" and "many" are not integers
        as_float = float(value)
        number = int(as_float) if as_float.is_integer() else None
        if isinstance(value, int | str) and number is not None and str(value).strip().lstrip(
                "+-").isdigit():
            number = int(value)  # exact, beyond float precision
    except (ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        raise ConfigurationError(f"{name} must be {describe(low, high)}, got {value!r}")
    return number
