"""The intent log: every claim of a step's intent, with its sender's worker name and the wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.engine import Store
from db.ledger import claim_step_intent, get_step, list_intents, plan_steps, record_decision, release_step
from lab.experiment import Proposal

PLAN = [("dose", "dosing", {}), ("anneal", "furnace", {})]
WALL = datetime(2026, 12, 2, 16, 0).astimezone()


def _steps(store: Store, cid: int, t0: datetime) -> list[int]:
    with store.session() as s:
        [eid] = record_decision(s, cid, [Proposal({"temperature_c": 1100.0}, "sobol", "1")], pending_ids=[],
                                made_at=t0, expected_completion=None, deadline=None)
        return [st.id for st in plan_steps(s, eid, PLAN, t0)]


def test_each_claim_is_logged_with_the_worker_and_both_clocks(store: Store, new_campaign, t0: datetime) -> None:
    cid, other = new_campaign(), new_campaign()
    dose, anneal = _steps(store, cid, t0)
    _steps(store, other, t0)
    with store.session() as s:
        claim_step_intent(s, dose, "doser", t0, None, None, worker="w-1", wall_at=WALL)
        claim_step_intent(s, dose, "doser", t0 + timedelta(hours=1), None, None, worker="w-2",
                          wall_at=WALL + timedelta(seconds=3))  # a resend of the same intent
        claim_step_intent(s, anneal, "furnace-1", t0, None, None, exclusive=False, wall_at=WALL - timedelta(seconds=1))
    with store.session() as s:
        assert get_step(s, dose).claimed_by == "w-2" and get_step(s, anneal).claimed_by is None
        intents = list_intents(s, [cid])
        assert list_intents(s, [other]) == [] and len(list_intents(s)) == 3
    assert [(i.worker, i.instrument, i.attempt, i.step_id) for i in intents] == [
        (None, "furnace-1", 1, anneal), ("w-1", "doser", 1, dose), ("w-2", "doser", 2, dose)]  # wall-clock order
    assert intents[1].wall_at == WALL and intents[1].at == t0 and intents[2].at == t0 + timedelta(hours=1)
    assert all(i.campaign_id == cid for i in intents) and intents[1].idempotency_key.endswith(":0:dose")


def test_the_wall_clock_defaults_to_the_campaign_clock_and_a_release_keeps_the_log(store: Store, new_campaign,
                                                                                    t0: datetime) -> None:
    cid = new_campaign()
    dose, _ = _steps(store, cid, t0)
    with store.session() as s:
        claim_step_intent(s, dose, "doser", t0, None, None, worker="w-1")
        release_step(s, dose, t0, "never arrived")
        claim_step_intent(s, dose, "doser-2", t0 + timedelta(minutes=1), None, None, worker="w-1")
    with store.session() as s:
        intents = list_intents(s, [cid])
    assert [(i.instrument, i.attempt, i.wall_at) for i in intents] == [("doser", 1, t0),
                                                                       ("doser-2", 2, t0 + timedelta(minutes=1))]
