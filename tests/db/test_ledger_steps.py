"""Steps: planning with idempotency keys, intent before dispatch, reconciliation queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db.engine import Store
from db.errors import DuplicateDispatch, InstrumentClaimed, InvalidTransition, StepNotFound
from db.ledger import (
    ack_step,
    busy_instruments,
    claim_step_intent,
    fail_step,
    finish_step,
    get_step,
    next_planned_step,
    open_steps,
    plan_steps,
    record_decision,
    release_step,
    step_history,
)
from db.models import Step
from lab.experiment import Proposal

H = timedelta(hours=1)
PLAN = [("dose", "doser", {"masses_mg": {"BaCO3": 197.3, "TiO2": 79.9}}),
        ("anneal", "furnace", {"temperature_c": 1100.0, "dwell_h": 8, "atmosphere": "air"}),
        ("xrd", "diffractometer", {"two_theta": [10.0, 80.0], "step": 0.02})]


def _experiments(store: Store, cid: int, t0: datetime, n: int = 1) -> list[int]:
    with store.session() as s:
        proposals = [Proposal({"temperature_c": 1100.0, "atmosphere": "air"}, "sobol", "1") for _ in range(n)]
        return record_decision(s, cid, proposals, pending_ids=[], made_at=t0, expected_completion=None, deadline=None)


def test_planning_numbers_steps_and_fixes_idempotency_keys(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _experiments(store, cid, t0)
    with store.session() as s:
        steps = plan_steps(s, eid, PLAN, t0)
    assert [(st.seq, st.name, st.instrument_kind, st.state) for st in steps] == [
        (0, "dose", "doser", "planned"), (1, "anneal", "furnace", "planned"), (2, "xrd", "diffractometer", "planned")]
    assert [st.idempotency_key for st in steps] == [f"C{cid}-E{eid}:0:dose", f"C{cid}-E{eid}:1:anneal",
                                                     f"C{cid}-E{eid}:2:xrd"]
    assert steps[0].command == PLAN[0][2] and steps[2].command["two_theta"] == [10.0, 80.0]
    assert all(st.planned_at == t0 and st.instrument is None and st.attempts == 0 for st in steps)
    assert steps[0].campaign_id == cid and steps[0].sample_id == f"C{cid}-E{eid}"
    with store.session() as s:  # planning again (after a restart) is harmless
        assert [st.id for st in plan_steps(s, eid, PLAN, t0 + H)] == [st.id for st in steps]


def test_a_key_reused_for_a_different_command_is_refused(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _experiments(store, cid, t0)
    with store.session() as s:
        plan_steps(s, eid, PLAN, t0)
    changed = [PLAN[0], ("anneal", "furnace", {"temperature_c": 1200.0, "dwell_h": 8, "atmosphere": "air"})]
    with pytest.raises(DuplicateDispatch, match="anneal"):
        with store.session() as s:
            plan_steps(s, eid, changed, t0)


def test_idempotency_keys_are_unique_in_the_database(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    first, second = _experiments(store, cid, t0, n=2)
    with store.session() as s:
        [step] = plan_steps(s, first, PLAN[:1], t0)
    with pytest.raises(DuplicateDispatch):
        with store.session() as s:
            s.add(Step(experiment_id=second, seq=0, name="dose", instrument_kind="doser", command={},
                       idempotency_key=step.idempotency_key, state="planned", planned_at=t0, attempts=0))


def test_a_step_goes_intent_acked_done_with_timestamps(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _experiments(store, cid, t0)
    with store.session() as s:
        dose = plan_steps(s, eid, PLAN, t0)[0]
    with store.session() as s:  # committed before any byte goes out
        intent = claim_step_intent(s, dose.id, "doser-1", t0 + H, t0 + 1.2 * H, t0 + 2 * H)
    assert (intent.state, intent.instrument, intent.intent_at, intent.attempts) == ("intent", "doser-1", t0 + H, 1)
    assert (intent.expected_done_at, intent.deadline) == (t0 + 1.2 * H, t0 + 2 * H)
    with store.session() as s:
        assert ack_step(s, dose.id, t0 + 1.01 * H).state == "acked"
        assert ack_step(s, dose.id, t0 + 1.05 * H).acked_at == t0 + 1.01 * H
        done = finish_step(s, dose.id, t0 + 1.1 * H)
    assert (done.state, done.acked_at, done.done_at, done.failed_at) == ("done", t0 + 1.01 * H, t0 + 1.1 * H, None)
    assert done.ended_at == t0 + 1.1 * H and not done.in_flight


def test_next_planned_step_follows_the_plan(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _experiments(store, cid, t0)
    with store.session() as s:
        steps = plan_steps(s, eid, PLAN, t0)
        assert next_planned_step(s, eid).id == steps[0].id
        claim_step_intent(s, steps[0].id, "doser-1", t0, None, None)
        assert next_planned_step(s, eid) is None  # step 0 in flight
        finish_step(s, steps[0].id, t0 + H)
        assert next_planned_step(s, eid).id == steps[1].id
        claim_step_intent(s, steps[1].id, "furnace-2", t0 + H, t0 + 9 * H, t0 + 12 * H)
        fail_step(s, steps[1].id, t0 + 13 * H, "deadline passed; furnace-2 holds no such program", lost=True)
        assert next_planned_step(s, eid) is None  # a lost step ends the plan
        lost = get_step(s, steps[1].id)
    assert (lost.state, lost.failed_at, lost.done_at) == ("lost", t0 + 13 * H, None)
    assert "furnace-2" in lost.error and lost.ended_at == t0 + 13 * H


def test_instruments_are_shared_across_campaigns_one_step_at_a_time(store: Store, new_campaign, t0) -> None:
    a, b = new_campaign(), new_campaign()
    [ea] = _experiments(store, a, t0)
    [eb] = _experiments(store, b, t0)
    with store.session() as s:
        xa = plan_steps(s, ea, [PLAN[2]], t0)[0]
        xb = plan_steps(s, eb, [PLAN[2]], t0)[0]
        claim_step_intent(s, xa.id, "xrd-1", t0, t0 + 0.5 * H, t0 + H)
    with pytest.raises(InstrumentClaimed, match=xa.idempotency_key):
        with store.session() as s:
            claim_step_intent(s, xb.id, "xrd-1", t0, t0 + 0.5 * H, t0 + H)
    with store.session() as s:
        busy = busy_instruments(s)
        assert list(busy) == ["xrd-1"] and busy["xrd-1"].id == xa.id and busy["xrd-1"].campaign_id == a
        assert [st.id for st in open_steps(s)] == [xa.id]
        assert open_steps(s, campaign_id=b) == []
        claim_step_intent(s, xb.id, "xrd-2", t0, None, None)  # another diffractometer is free
        assert sorted(busy_instruments(s)) == ["xrd-1", "xrd-2"]
        finish_step(s, xa.id, t0 + 0.5 * H)  # found done on reconciliation: intent -> done
        claim_step_intent(s, xb.id, "xrd-2", t0 + 0.1 * H, None, None)  # a retry on the same instrument
        retried = get_step(s, xb.id)
        assert (retried.attempts, retried.intent_at) == (2, t0 + 0.1 * H)
        with pytest.raises(InvalidTransition, match="release it"):
            claim_step_intent(s, xb.id, "xrd-1", t0, None, None)
        released = release_step(s, xb.id, t0 + 0.2 * H, "xrd-2 has no record of it")
        assert (released.state, released.instrument, released.error) == ("planned", None, "xrd-2 has no record of it")
        assert claim_step_intent(s, xb.id, "xrd-1", t0 + 0.3 * H, None, None).attempts == 3
        assert get_step(s, xa.id).acked_at == t0 + 0.5 * H


def test_step_state_rules(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _experiments(store, cid, t0)
    with store.session() as s:
        dose, anneal, xrd = plan_steps(s, eid, PLAN, t0)
        with pytest.raises(InvalidTransition):
            ack_step(s, dose.id, t0)
        with pytest.raises(InvalidTransition):
            finish_step(s, dose.id, t0)
        with pytest.raises(InvalidTransition):
            fail_step(s, dose.id, t0, "never sent", lost=True)
        assert fail_step(s, xrd.id, t0, "experiment failed before this step").state == "failed"
        claim_step_intent(s, dose.id, "doser-1", t0, None, None)
        finish_step(s, dose.id, t0 + H)
        with pytest.raises(InvalidTransition):
            claim_step_intent(s, dose.id, "doser-1", t0, None, None)
        with pytest.raises(StepNotFound):
            get_step(s, 12345)


def test_step_history_lists_every_step_for_utilisation(store: Store, new_campaign, t0) -> None:
    a, b = new_campaign(), new_campaign()
    [ea] = _experiments(store, a, t0)
    [eb] = _experiments(store, b, t0 + H)
    with store.session() as s:
        plan_steps(s, ea, PLAN, t0)
        plan_steps(s, eb, PLAN[:2], t0 + H)
        assert len(step_history(s)) == 5
        assert [st.name for st in step_history(s, campaign_id=b)] == ["dose", "anneal"]
