"""One number format: the terminal table, the leaderboards and the README agree."""

import math

import pytest

from perfekt_bench.metric import MetricValue
from perfekt_bench.numbers import column_exponent, format_value, unit_label
from perfekt_bench.report import metrics_table


@pytest.mark.parametrize(("value", "error", "exponent", "text"), [
    (0.0008772, 5.05e-5, -3, "0.877 ± 0.051"),   # error to 2 digits, value to the same place
    (0.1754, 0.00094, 0, "0.17540 ± 0.00094"),
    (3384.3, 123.0, 0, "3380 ± 120"),             # the error's 2 digits decide the rounding
    (1.0, 0.0, 0, "1 ± 0"),
    (3384.337942358218, 4.5e-13, 0, "3384 ± 0"),  # the rounding noise of a spread is zero
    (43100.0, None, 0, "43100"),                  # no error: 4 digits, never 4.31e+04
    (0.0009, math.nan, -3, "0.9"),
    (math.nan, 1.0, 0, "—"),
    (None, None, 0, "—"),
    (-0.000119, 0.000167, -3, "-0.12 ± 0.17"),
])
def test_format_value(value, error, exponent, text):
    assert format_value(value, error, exponent) == text


def test_columns_of_small_numbers_state_their_unit_in_the_header():
    assert column_exponent([0.0387, 0.000877, 0.00069, 0.00083, 0.00074]) == -3
    assert column_exponent([3384, 33.8, 168]) == 0
    assert column_exponent([0.47, 0.0187, 0.016]) == 0
    assert column_exponent([2e-7, 5e-7]) == -6
    assert column_exponent([]) == 0 and column_exponent([0.0, math.nan]) == 0
    assert unit_label(-3) == "[10⁻³]" and unit_label(6) == "[10⁶]" and unit_label(0) == ""


def test_terminal_table_uses_the_same_format():
    metrics = {"mmd": {"fastsim": MetricValue(0.0387, 0.0062),
                       "refined": MetricValue(0.000877, 0.000050)},
               "mse": {"refined": MetricValue(0.1754, 0.00094)}}
    text = metrics_table(metrics, ["fastsim", "refined"])
    lines = text.splitlines()
    mmd = next(line for line in lines if line.startswith("mmd"))
    assert mmd.split()[:2] == ["mmd", "[10⁻³]"]
    assert "38.7 ± 6.2" in mmd and "0.877 ± 0.050" in mmd
    mse = next(line for line in lines if line.startswith("mse"))
    assert "0.17540 ± 0.00094" in mse and "n/a" in mse and "×10" not in text
