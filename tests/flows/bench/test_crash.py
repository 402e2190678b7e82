"""`lab bench crash`: SIGKILLed workers lose, duplicate and garble nothing; and the audit can fail.

The small bench, on SQLite against the quick campaign variant (2-3 h furnace programs), on the
session's Prefect test server: 4 kills over two named workers on two campaigns (2 experiments each
at 900x, half the kills armed on dispatch or ingestion events; about 40 s, most of it the workers'
start-ups), which must lose, duplicate and double-claim nothing. The audit itself is checked on
hand-made ledgers, to show that it can fail.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import db
from flows.bench.crash import bench_spec, crash_bench
from flows.bench.crash_run import kill_phase
from flows.bench.ledger_check import DeviceRecord, check, read_devices, read_ledger
from lab.experiment import ExperimentState, Measurement, Proposal

T0 = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)


@pytest.mark.timeout(400)
def test_four_kills_over_two_named_workers_lose_nothing_and_never_double_claim(prefect_harness: None,
                                                                              tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    report = crash_bench(kills=4, seed=1, speed=900.0, out=tmp_path, experiments=2, quick=True, engine_window_s=4.0,
                         armed=0.5, prefect_api_url=PREFECT_API_URL.value(), workers=2, campaigns=2)
    assert report["issues"] == []
    assert (report["kills"], report["lost"], report["duplicated"], report["inconsistent"]) == (4, 0, 0, 0)
    assert report["double_claims"] == 0 and report["final_status"] == "completed" and report["ok"]
    assert report["workers"] == 2 and {e["worker"] for e in report["kill_log"]} == {"crash-bench-worker-1",
                                                                                    "crash-bench-worker-2"}
    assert [e["event"] for e in report["kill_log"][-2:]] == ["final", "final"]
    assert report["database"] == "sqlite" and report["experiments"] >= 4 and report["worker_failures"] == 0
    assert sum(report["device_starts"].values()) == 3 * report["experiments"]  # dose, anneal, scan: once each
    assert report["claims"]["intents"] >= 3 * report["experiments"]
    assert {"platform", "cpus", "python"} <= set(report["machine"])


def _ledger(tmp_path: Path) -> tuple[db.Store, int, int]:
    """A campaign with one experiment whose dose step ran and is recorded done, with its measurement."""
    text, spec = bench_spec(4, seed=0, quick=True)
    store = db.open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    with store.session() as s:
        cid = db.create_campaign(s, name="audit", spec_toml=text, spec=spec.to_store_dict(), seed=0,
                                 reward=spec.reward_definition(), at=T0)
        [eid] = db.record_decision(s, cid, [Proposal({"temperature_c": 400.0}, "sobol", "1")], pending_ids=[],
                                   made_at=T0, expected_completion=None, deadline=None)
        steps = db.plan_steps(s, eid, [("dose", "dosing", {}), ("anneal", "furnace", {}), ("xrd", "xrd", {})], T0)
        dose = steps[0]
        db.claim_step_intent(s, dose.id, "doser", T0 + timedelta(minutes=1), None, None)
        db.transition(s, eid, ExperimentState.DISPATCHED, T0 + timedelta(minutes=1))
        db.ack_step(s, dose.id, T0 + timedelta(minutes=2))
        db.transition(s, eid, ExperimentState.RUNNING, T0 + timedelta(minutes=2))
        db.store_measurement(s, eid, Measurement.from_array("dosed_mg", np.array([500.0, 500.0]), units="mg",
                                                            instrument="doser"), T0 + timedelta(minutes=9))
        db.finish_step(s, dose.id, T0 + timedelta(minutes=10))
    return store, cid, eid


def _devices(dose_key: str, starts: int = 1) -> dict[str, DeviceRecord]:
    return {"doser": DeviceRecord("doser", starts, {dose_key: "done"}), "furnace-1": DeviceRecord("furnace-1", 0, {}),
            "xrd": DeviceRecord("xrd", 0, {})}


def test_audit_of_a_sound_ledger_reports_only_the_unfinished_experiment(tmp_path: Path) -> None:
    store, cid, eid = _ledger(tmp_path)
    try:
        ledger = read_ledger(store, [cid])
        key = ledger.steps[eid][0].idempotency_key
        result = check(ledger, _devices(key))
    finally:
        store.dispose()
    assert [(i.category, i.kind) for i in result.issues] == [("lost", "unfinished")]
    assert (result.lost, result.duplicated, result.inconsistent) == (1, 0, 0)


def test_audit_catches_a_step_done_without_measurement_a_second_start_and_a_stray_job(tmp_path: Path) -> None:
    store, cid, eid = _ledger(tmp_path)
    try:
        with store.session() as s:
            anneal = db.list_steps(s, eid)[1]
            db.claim_step_intent(s, anneal.id, "furnace-1", T0 + timedelta(minutes=5), None, None)  # doser still busy
            db.finish_step(s, anneal.id, T0 + timedelta(hours=3))  # done, but no temperature_log stored
        ledger = read_ledger(store, [cid])
    finally:
        store.dispose()
    key = ledger.steps[eid][0].idempotency_key
    devices = _devices(key, starts=2)  # the doser started two jobs for one key
    devices["furnace-1"] = DeviceRecord("furnace-1", 2, {ledger.steps[eid][1].idempotency_key: "unloaded",
                                                         "C9-E9:1:anneal": "unloaded"})  # a job of no step
    kinds = {(i.category, i.kind) for i in check(ledger, devices).issues}
    assert ("inconsistent", "done_without_measurement") in kinds
    assert ("duplicated", "device_started_twice") in kinds
    assert ("duplicated", "unrecorded_job") in kinds
    result = check(ledger, devices)
    assert result.duplicated == 2 and result.inconsistent >= 1


def test_audit_catches_overlaps_bad_timestamps_and_phantom_steps(tmp_path: Path) -> None:
    store, cid, eid = _ledger(tmp_path)
    try:
        with store.session() as s:
            anneal = db.list_steps(s, eid)[1]
            db.claim_step_intent(s, anneal.id, "doser", T0 + timedelta(minutes=5), None, None, exclusive=False)
        ledger = read_ledger(store, [cid])
    finally:
        store.dispose()
    exp = ledger.experiments[0]
    ledger.experiments[0] = dataclasses.replace(exp, timestamps={**exp.timestamps, "running": T0})
    kinds = {(i.category, i.kind) for i in check(ledger, {}).issues}
    assert ("inconsistent", "instrument_overlap") in kinds  # anneal claimed the doser while the dose held it
    assert ("inconsistent", "timestamps_order") in kinds  # running before dispatched
    assert ("inconsistent", "phantom_step") in kinds  # done on a doser that has no record of it


def test_read_devices_counts_starts_phases_and_resent_commands() -> None:
    job = SimpleNamespace(unloaded=False)
    dev = SimpleNamespace(jobs={"C1-E1:0:dose": job}, starts=1, phase=lambda j: "done",
                          received=['DOSE:RUN "C1-E1:0:dose","C1-E1"', "DOSE:STAT?", 'DOSE:RUN "C1-E1:0:dose","C1-E1"'])
    [record] = read_devices({"doser": dev}).values()
    assert record == DeviceRecord("doser", 1, {"C1-E1:0:dose": "done"}, {"C1-E1:0:dose": 2})


def test_kill_phase_tags_what_the_worker_was_doing(tmp_path: Path) -> None:
    store, cid, eid = _ledger(tmp_path)
    try:
        with store.session() as s:
            anneal = db.list_steps(s, eid)[1]
            db.claim_step_intent(s, anneal.id, "furnace-1", T0 + timedelta(minutes=11), None, None)
        ledger = read_ledger(store, [cid])
    finally:
        store.dispose()
    devices = _devices(ledger.steps[eid][0].idempotency_key)
    assert kill_phase(ledger, devices, claimed=False) == ["startup"]
    assert kill_phase(ledger, devices, claimed=True) == ["dispatch anneal: intent, not sent"]
    devices["furnace-1"] = DeviceRecord("furnace-1", 1, {ledger.steps[eid][1].idempotency_key: "heating"})
    assert kill_phase(ledger, devices, claimed=True) == ["dispatch anneal: sent, not acked"]


@pytest.mark.parametrize("quick", [False, True])
def test_bench_spec_variants_parse(quick: bool) -> None:
    _, spec = bench_spec(16, seed=3, quick=quick)
    assert spec.budget.experiments == 16 and spec.policy.name == "sobol" and spec.budget.hours is None
