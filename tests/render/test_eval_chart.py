"""The accuracy-against-speed chart: intervals drawn where they belong, foreign text inert."""

from __future__ import annotations

import re

from tokbench.render.charts import IntervalPoint, interval_scatter


def test_points_and_intervals_are_placed_and_labels_escaped() -> None:
    svg = interval_scatter(
        [
            IntervalPoint("<script>alert(1)</script> Q4", 10.0, 50.0, 40.0, 60.0),
            IntervalPoint("IQ2_XXS", 20.0, 80.0, 75.0, 85.0),
        ],
        "t",
        "decode tok/s",
        "accuracy %",
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    bars = re.findall(
        r'class="interval" x1="([\d.]+)" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)"', svg
    )
    assert len(bars) == 2
    (x1, lo1, hi1), (x2, lo2, hi2) = [tuple(map(float, b)) for b in bars]
    assert x2 > x1  # faster to the right
    # y grows downwards: the low end is below the high end; the 10-point bar is half the
    # height of the 20-point one
    assert float(lo1) > float(hi1)
    assert abs((lo1 - hi1) - 2 * (lo2 - hi2)) < 0.5


def test_nothing_to_plot_says_so() -> None:
    assert "no eval run" in interval_scatter([], "t", "x", "y")
