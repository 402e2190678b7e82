"""lab bench latency: points, skipped points, exponents and the JSON report (tiny grid)."""

from __future__ import annotations

import json

from flows.bench.latency import (
    growth_exponent,
    latency_benchmark,
    latency_table,
    point_line,
    predict_seconds,
)


def test_power_law_fit_and_prediction() -> None:
    assert abs(growth_exponent([10, 100, 1000], [0.01, 1.0, 100.0]) - 2.0) < 1e-9
    assert growth_exponent([10], [1.0]) is None and predict_seconds([10], [1.0], 100) is None
    assert abs(predict_seconds([10, 100], [0.01, 1.0], 1000) - 100.0) < 1e-6
    # a flat start is extrapolated at least linearly
    assert abs(predict_seconds([10, 100], [1.0, 1.0], 1000) - 10.0) < 1e-9


def test_latency_report_measures_then_skips_points_over_the_cap() -> None:
    seen: list[dict] = []
    report = latency_benchmark(["random"], max_seconds=0.0, on_point=seen.append)
    json.dumps(report)
    pts = report["points"]
    assert pts == seen and [(p["axis"], p["size"]) for p in pts] == [
        ("history", 10), ("history", 100), ("history", 300), ("history", 1000),
        ("pool", 1000), ("pool", 10000), ("pool", 50000)]
    measured = [p for p in pts if not p.get("skipped")]
    skipped = [p for p in pts if p.get("skipped")]
    # two points per axis are needed for a prediction; every later one is over a zero cap
    assert [(p["axis"], p["size"]) for p in measured] == [("history", 10), ("history", 100), ("pool", 1000),
                                                          ("pool", 10000)]
    assert all(p["seconds"] > 0 and p["repeats"] >= 1 for p in measured)
    assert all(p["predicted_seconds"] >= 0 and p["cap_seconds"] == 0.0 for p in skipped)
    assert set(report["exponents"]["random"]) == {"history", "pool"}
    assert {"cpu_count", "load_average", "cpu_model"} <= set(report["machine"])
    assert all("skipped" in point_line(p) for p in skipped) and "s (median of" in point_line(measured[0])
    assert latency_table(report).row_count == 1


def test_tail_exponent_is_the_slope_of_the_two_largest_points() -> None:
    report = latency_benchmark(["random"], quick=True)
    pts = [p for p in report["points"] if p["axis"] == "pool"]
    want = growth_exponent([p["size"] for p in pts[-2:]], [p["seconds"] for p in pts[-2:]])
    assert report["tail_exponents"]["random"]["pool"] == want
