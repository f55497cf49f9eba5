"""Plain-text tables for the terminal, in the number format of the leaderboards
(:mod:`perfekt_bench.numbers`)."""

from __future__ import annotations

from collections.abc import Sequence

from .numbers import column_exponent, format_value, unit_label


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


def metrics_table(metrics: dict, candidates: Sequence[str]) -> str:
    """One row per metric, one column per candidate; a metric's unit, where its values are
    written in one (``mmd [10⁻³]``), follows its name."""
    rows = []
    for name, per in metrics.items():
        exponent = column_exponent(per[c].value for c in candidates if c in per)
        label = f"{name} {unit_label(exponent)}".rstrip()
        rows.append([label] + [format_value(per[c].value, per[c].error, exponent)
                               if c in per else "n/a" for c in candidates])
    return table(["metric", *candidates], rows)
