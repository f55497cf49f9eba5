"""One number format for every table: the terminal, the leaderboards and the README.

A value with an uncertainty is written with the uncertainty rounded to two significant digits
and the value to the same decimal place (``0.877 ± 0.050``); a value without one with four
significant digits. Very small or very large columns are written in a unit that the column's
header states in square brackets, the way an axis label reads in a physics figure: under
``mmd [10⁻³]`` the cell ``0.88`` means 0.88 × 10⁻³. A bare "×10³" beside a number is never
written: readers cannot tell whether it multiplies the value or the unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: columns whose typical value lies in [LOW, HIGH) are written unscaled
LOW, HIGH = 1e-2, 1e5
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _finite(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def column_exponent(values: Iterable[float]) -> int:
    """The power of ten (a multiple of 3) in which to write a column: 0 when the median of its
    finite non-zero magnitudes lies in [10⁻², 10⁵), else the multiple of 3 nearest to the
    median's order of magnitude (so the median is written between about 0.03 and 30)."""
    magnitudes = sorted(abs(float(v)) for v in values if _finite(v) and v != 0)
    if not magnitudes:
        return 0
    median = magnitudes[(len(magnitudes) - 1) // 2]  # the lower median of an even count
    if LOW <= median < HIGH:
        return 0
    return 3 * round(math.log10(median) / 3)


def unit_label(exponent: int) -> str:
    """``[10⁻³]`` for a column written in units of 10⁻³; empty for unscaled columns."""
    return f"[10{str(exponent).translate(_SUPERSCRIPT)}]" if exponent else ""


def format_value(value: float | None, error: float | None = None, exponent: int = 0) -> str:
    """``value ± error`` in units of 10^``exponent``; "—" for a missing value."""
    if not _finite(value):
        return "—"
    scale = 10.0 ** exponent
    v = value / scale
    if not _finite(error):
        return _plain(v)
    e = abs(error) / scale
    if e <= 1e-9 * abs(v):  # zero, or the rounding noise of a spread over equal values
        return f"{_plain(v)} ± 0"
    decimals = min(1 - math.floor(math.log10(e)), 12)
    if decimals >= 0:
        return f"{v:.{decimals}f} ± {e:.{decimals}f}"
    return f"{round(v, decimals):.0f} ± {round(e, decimals):.0f}"


def _plain(v: float) -> str:
    """Four significant digits, but whole numbers from 10⁴ on (never ``1.235e+04``)."""
    return f"{v:.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
