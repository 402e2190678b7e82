"""Disruptions of `lab bench crash`: a lab power cycle cuts running jobs, the cuts are accounted, the schedule spreads."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import db
from flows.bench.crash import bench_spec
from flows.bench.crash_disrupt import Disruptor, power_cycle_lab
from flows.bench.ledger_check import DeviceRecord, check, read_ledger
from flows.bench.power_cuts import account_power_cuts
from flows.campaign.runtime import simulated_rig
from instruments.errors import InstrumentError
from lab.experiment import ExperimentState, Measurement, Proposal
from lab.spec import InstrumentsSpec

T0 = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)
ANNEAL = {"temperature_c": 400.0, "dwell_h": 1.0, "ramp_c_per_min": 10.0, "atmosphere": "air"}


def _state(driver: Any, key: str) -> str:
    """The job's state, through the dropped link (the first call after a drop fails; the driver then reconnects)."""
    for _ in range(3):
        try:
            return str(driver.job_status(key).state)
        except InstrumentError:
            continue
    raise AssertionError(f"{key}: no answer after three tries")


def test_a_power_cycle_cuts_the_running_job_of_every_instrument_and_keeps_finished_ones() -> None:
    with simulated_rig(InstrumentsSpec(furnaces=("furnace-1", "furnace-2")), seed=1) as rig:
        f1, f2 = rig.instruments["furnace-1"], rig.instruments["furnace-2"]
        f1.start_step("C1-E1:1:anneal", "C1-E1", ANNEAL)
        f2.start_step("C1-E2:1:anneal", "C1-E2", ANNEAL)
        rig.clock.advance(f2.step_duration_s(ANNEAL) + 60)  # both done by now...
        f2.release_step("C1-E2:1:anneal")
        f2.start_step("C1-E4:1:anneal", "C1-E4", ANNEAL)  # ...and a new one runs on furnace-2
        cut = power_cycle_lab(rig.lab)
        assert cut == ["C1-E4:1:anneal"]
        assert _state(f2, "C1-E4:1:anneal") == "unknown"  # forgotten
        assert _state(f2, "C1-E2:1:anneal") == "unloaded"  # the finished job is kept
        assert all(dev.restarts == 1 for dev in rig.lab.devices.values())
        assert [e.key for e in rig.lab.devices["furnace-2"].faults.events if e.cut] == ["C1-E4:1:anneal"]


def _ledger(tmp_path: Path) -> tuple[db.Store, int, list[str]]:
    """Two experiments whose anneals were acked: C?-E1's lost to a cut (with a reason), C?-E2's done."""
    text, spec = bench_spec(4, seed=0, quick=True)
    store = db.open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    keys = []
    with store.session() as s:
        cid = db.create_campaign(s, name="cuts", spec_toml=text, spec=spec.to_store_dict(), seed=0,
                                 reward=spec.reward_definition(), at=T0)
        eids = db.record_decision(s, cid, [Proposal({"t": 1.0}, "sobol", "1")] * 2, pending_ids=[], made_at=T0,
                                  expected_completion=None, deadline=None)
        for n, eid in enumerate(eids):
            [step] = db.plan_steps(s, eid, [("anneal", "furnace", {})], T0)
            keys.append(step.idempotency_key)
            db.claim_step_intent(s, step.id, f"furnace-{n + 1}", T0, None, None)
            db.transition(s, eid, ExperimentState.DISPATCHED, T0)
            db.ack_step(s, step.id, T0 + timedelta(minutes=1))
            db.transition(s, eid, ExperimentState.RUNNING, T0 + timedelta(minutes=1))
            if n == 0:
                reason = f"furnace-1 has no record of {step.idempotency_key}, which it had acknowledged"
                db.fail_step(s, step.id, T0 + timedelta(hours=1), reason, lost=True)
                db.transition(s, eid, ExperimentState.LOST, T0 + timedelta(hours=1), reason=reason)
            else:
                db.store_measurement(s, eid, Measurement.from_array("temperature_log", np.zeros(3), units="C",
                                                                    instrument="furnace-2"), T0 + timedelta(hours=2))
                db.finish_step(s, step.id, T0 + timedelta(hours=2))
    return store, cid, keys


def test_a_job_lost_to_a_cut_is_accounted_and_other_losses_are_not(tmp_path: Path) -> None:
    store, cid, (lost_key, done_key) = _ledger(tmp_path)
    try:
        ledger = read_ledger(store, [cid])
    finally:
        store.dispose()
    devices = {"furnace-1": DeviceRecord("furnace-1", 0, {}), "furnace-2": DeviceRecord("furnace-2", 1, {done_key: "unloaded"})}
    result = check(ledger, devices)
    cuts = account_power_cuts(result, ledger, devices, [lost_key])
    assert len(cuts.lost_to_cuts) == 1 and "had acknowledged" in cuts.lost_to_cuts[0]
    assert cuts.lost_other == 0 and cuts.unaccounted == []
    uncut = account_power_cuts(result, ledger, devices, [])
    assert uncut.lost_other == 1 and uncut.lost_to_cuts == []  # without the cut, it is a loss like any other
    bad = account_power_cuts(result, ledger, {**devices, "furnace-2": DeviceRecord("furnace-2", 1, {})},
                             [done_key, "C9-E9:1:anneal"])  # done after a cut, not held again; a key of no step
    assert sorted(i.kind for i in bad.unaccounted) == ["cut_not_rerun", "cut_unrecorded"]


def test_disruptions_are_spread_over_the_kills_and_wait_for_a_held_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.bench.crash_disrupt as crash_disrupt

    monkeypatch.setattr(crash_disrupt, "MAX_DELAY_S", 0.0)
    fired: list[str] = []
    actions = {kind: (lambda kind=kind: fired.append(kind) or {"ok": True}) for kind in ("lab_power_cycle", "db_drop")}
    dis = Disruptor({"lab_power_cycle": 2, "db_drop": 2}, kills=8, rng=random.Random(0), actions=actions)
    assert [dis.due_after(j) for j in range(4)] == [0, 2, 4, 6]
    assert dis.tick(0, holding=False) is None  # not mid-campaign yet
    assert dis.tick(0, holding=True) is not None and dis.tick(1, holding=True) is None
    for kills in (2, 4, 6):
        assert dis.tick(kills, holding=True)["kills_before"] == kills
    assert dis.pending == 0 and sorted(fired) == ["db_drop", "db_drop", "lab_power_cycle", "lab_power_cycle"]
    assert dis.summary()["delivered"] == {"lab_power_cycle": 2, "db_drop": 2, "pg_restart": 0}
    with pytest.raises(ValueError, match="disruption counts"):
        Disruptor({"meteor": 1}, kills=1, rng=random.Random(0), actions={})
