"""`lab bench throughput` on one simulated day: the engine beats the synchronous loop, honestly counted.

Checks the physical limit's arithmetic, the command's JSON report, that the synchronous baseline
really waits for a whole batch, and that a rerun on the same seed gives the same numbers (the sync
controller is rerun: it is the cheaper of the two, and both share the rig, world, clock and policy).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from typer.testing import CliRunner

import db
from flows.bench.throughput import (
    ControllerRun,
    bench_spec,
    expected_durations_h,
    physical_limit,
    run_controller,
)
from flows.cli.bench import bench_app
from lab.clock import DEFAULT_SIM_START

KEYS = ("engine_completed", "sync_completed", "physical_limit", "engine_ratio", "sync_ratio")


def test_bench_spec_durations_and_limit_arithmetic() -> None:
    _, spec = bench_spec(days=1, seed=0)
    dur = expected_durations_h(spec)
    assert dur["dosing"] == pytest.approx(600.0 / 3600.0)  # 30 + 2 x 45 + 6000 mg / 20 mg/s + 180 s
    assert dur["furnace"] == pytest.approx(5.0)  # mid-point of 350-450 °C at 10 °C/min, 3.375 h dwell
    assert dur["xrd"] == pytest.approx((90.0 + 3501 * 0.5) / 3600.0)
    limit = physical_limit(spec, days=1)
    fill = (1 + 2 + 3 + 4) * dur["dosing"] + 4 * dur["xrd"]  # furnace i waits for i doses; last scan
    assert limit.bottleneck == "furnace"
    assert limit.fill_h == pytest.approx(fill)
    assert limit.value == pytest.approx((4 * 24.0 - fill) / 5.0)


@flow(name="bench-controller-on-a-test-rig")
def _run(controller: str, days: float, seed: int, url: str) -> ControllerRun:
    text, spec = bench_spec(days=days, seed=seed)
    return run_controller(controller, text, spec, days, url)


@pytest.fixture(scope="module")
def report(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`lab bench throughput --days 1 --seed 0 --json ...`: its printed output and its JSON report."""
    out = tmp_path_factory.mktemp("bench") / "tp.json"
    result = CliRunner().invoke(bench_app, ["throughput", "--days", "1", "--seed", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    return {"output": result.output, **json.loads(out.read_text(encoding="utf-8"))}


def test_engine_beats_the_sync_loop_and_stays_under_the_limit(report: dict[str, Any]) -> None:
    assert all(k in report for k in KEYS)
    assert "engine" in report["output"] and "sync" in report["output"] and "cpu_count" in report["output"]
    assert report["engine_completed"] > report["sync_completed"] > 0
    for key in ("engine_ratio", "sync_ratio"):
        assert 0.0 < report[key] <= 1.05
    assert report["engine_ratio"] == pytest.approx(report["engine_completed"] / report["physical_limit"], abs=1e-3)
    furnaces = {k: v for k, v in report["runs"]["engine"]["utilisation"].items() if k.startswith("furnace")}
    assert len(furnaces) == 4 and min(furnaces.values()) > 0.9


def test_sync_loop_waits_for_each_batch_and_the_same_seed_gives_the_same_numbers(
        report: dict[str, Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    again = asdict(_run("sync", 1, 0, url))
    first = report["runs"]["sync"]
    for key in ("completed", "proposed", "utilisation", "jobs", "mean_duration_h"):
        assert again[key] == first[key], key
    store = db.open_store(url)
    try:
        with store.session() as s:
            experiments = db.list_experiments(s, 1)
    finally:
        store.dispose()
    batches: dict[int, list[db.ExperimentInfo]] = {}
    for e in experiments:
        batches.setdefault(e.decision_id, []).append(e)
    ordered = [batches[k] for k in sorted(batches)]
    assert len(ordered) >= 3 and all(len(b) == 4 for b in ordered)
    for previous, batch in zip(ordered, ordered[1:]):
        proposed = batch[0].timestamps["proposed"]
        ended = [e.timestamps.get("rewarded") or e.timestamps.get("failed") for e in previous]
        assert all(t is not None and t <= proposed for t in ended), "a batch was proposed with results outstanding"
    end = DEFAULT_SIM_START + timedelta(days=1)
    ended_at = [e.timestamps.get("rewarded") or e.timestamps.get("failed") for e in experiments]
    assert again["completed"] == sum(1 for t in ended_at if t is not None and t <= end) > 0
