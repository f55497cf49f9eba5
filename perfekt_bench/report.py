"""Plain-text tables for the terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence


def format_value(value: float, error: float) -> str:
    if value is None or math.isnan(value):
        return "—"
    if error is None or math.isnan(error):
        return f"{value:.4g}"
    return f"{value:.4g} ± {error:.2g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


def metrics_table(metrics: dict, candidates: Sequence[str]) -> str:
    rows = []
    for name, per in metrics.items():
        rows.append([name] + [format_value(per[c].value, per[c].error) if c in per else "n/a"
                              for c in candidates])
    return table(["metric", *candidates], rows)
