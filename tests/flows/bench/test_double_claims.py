"""Double claims read from the intent log: a forged ledger with one is caught; handovers after a lapse are not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import db
from flows.bench.crash import bench_spec
from flows.bench.double_claims import audit_claims, read_intents
from lab.experiment import Proposal

T0 = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)
WALL = datetime(2026, 12, 2, 16, 0, tzinfo=timezone.utc)
LEASE_S = 20.0


def _forge(tmp_path: Path, intents: list[tuple[str | None, float]], campaigns: int = 1) -> tuple[db.Store, list[int]]:
    """A ledger whose campaign ``0`` got one intent per ``(worker, wall seconds)``, each for a step of its own."""
    text, spec = bench_spec(4, seed=0, quick=True)
    store = db.open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    with store.session() as s:
        cids = [db.create_campaign(s, name="forged", spec_toml=text, spec=spec.to_store_dict(), seed=0,
                                   reward=spec.reward_definition(), at=T0) for _ in range(campaigns)]
        for n, (worker, wall_s) in enumerate(intents):
            [eid] = db.record_decision(s, cids[0], [Proposal({"temperature_c": 400.0}, "sobol", "1")], pending_ids=[],
                                       made_at=T0, expected_completion=None, deadline=None)
            [step] = db.plan_steps(s, eid, [("dose", "dosing", {})], T0)
            db.claim_step_intent(s, step.id, f"doser-{n}", T0 + timedelta(minutes=n), None, None, worker=worker,
                                 wall_at=WALL + timedelta(seconds=wall_s))
    return store, cids


def test_a_forged_ledger_with_two_workers_sending_at_once_has_double_claims(tmp_path: Path) -> None:
    store, cids = _forge(tmp_path, [("w-1", 0.0), ("w-1", 4.0), ("w-2", 6.0), ("w-1", 7.5), ("w-2", 30.0)])
    try:
        audit = audit_claims(read_intents(store, cids), LEASE_S)
    finally:
        store.dispose()
    assert [(c.first_worker, c.second_worker, c.gap_s) for c in audit.double_claims] == [("w-1", "w-2", 2.0),
                                                                                      ("w-2", "w-1", 1.5)]
    assert [(c.first_worker, c.second_worker, c.gap_s) for c in audit.handovers] == [("w-1", "w-2", 22.5)]
    assert audit.intents == 5 and audit.workers_by_campaign == {cids[0]: ["w-1", "w-2"]}
    assert "w-2 sent" in audit.double_claims[0].text() and audit.to_dict()["double_claims"] == 2


def test_a_handover_after_a_lapse_and_a_restart_under_one_name_are_no_double_claims(tmp_path: Path) -> None:
    # w-1 sends, dies; w-2 takes over 16 s later (>= half a lease); w-1's restart under its name is one worker
    store, cids = _forge(tmp_path, [("w-1", 0.0), ("w-1", 1.0), ("w-2", 17.0), ("w-2", 18.0), ("w-2", 18.1)])
    try:
        audit = audit_claims(read_intents(store, cids), LEASE_S)
    finally:
        store.dispose()
    assert audit.double_claims == [] and len(audit.handovers) == 1 and audit.handovers[0].gap_s == 16.0


def test_intents_of_other_campaigns_and_unnamed_senders(tmp_path: Path) -> None:
    store, cids = _forge(tmp_path, [(None, 0.0), ("w-1", 1.0)], campaigns=2)
    try:
        assert read_intents(store, [cids[1]]) == []
        audit = audit_claims(read_intents(store, cids), LEASE_S)
    finally:
        store.dispose()
    assert [(c.first_worker, c.second_worker) for c in audit.double_claims] == [("(unnamed)", "w-1")]


def test_the_lease_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lease_s"):
        audit_claims([], 0.0)
    assert audit_claims([], 10.0).to_dict()["threshold_s"] == 5.0
