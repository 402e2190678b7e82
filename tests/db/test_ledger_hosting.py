"""Bulk round queries: the next planned step of each experiment, steps in flight on a host's instruments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from db.engine import Store
from db.ledger import (
    approve_decision,
    campaigns_in,
    claim_step_intent,
    fail_step,
    finish_step,
    get_experiment,
    list_steps,
    next_planned_step,
    plan_steps,
    ready_steps,
    record_decision,
    set_campaign_status,
    steps_in_flight_on,
    steps_of,
    transition,
)
from lab.experiment import ExperimentState, Proposal

H = timedelta(hours=1)
PLAN = [("dose", "doser", {"mg": 1.0}), ("anneal", "furnace", {"c": 1100.0}), ("xrd", "diffractometer", {"step": 0.02})]


def _experiments(store: Store, cid: int, t0: datetime, n: int) -> list[int]:
    with store.session() as s:
        proposals = [Proposal({"temperature_c": 1100.0, "atmosphere": "air"}, "sobol", "1") for _ in range(n)]
        eids = record_decision(s, cid, proposals, pending_ids=[], made_at=t0, expected_completion=None, deadline=None)
        for eid in eids:
            plan_steps(s, eid, PLAN, t0)
    return eids


def _step(store: Store, eid: int, seq: int) -> int:
    with store.session() as s:
        return next(r.step.id for r in ready_steps(s) if r.step.experiment_id == eid and r.step.seq == seq)


def test_ready_steps_are_each_experiments_next_planned_step(store: Store, new_campaign: Callable[..., int],
                                                            t0: datetime) -> None:
    cid = new_campaign()
    other = new_campaign(approval_required=True)
    fresh, dosed, flying, failed, finished = _experiments(store, cid, t0, 5)
    (waiting,) = _experiments(store, other, t0, 1)
    with store.session() as s:
        set_campaign_status(s, cid, "running", t0)
        steps = {eid: [st.id for st in sorted((r.step for r in ready_steps(s) if r.step.experiment_id == eid),
                                              key=lambda st: st.seq)] for eid in (dosed, flying, failed, finished)}
        for eid in (dosed, flying, failed, finished):
            claim_step_intent(s, steps[eid][0], f"doser-{eid}", t0, None, None)
            finish_step(s, steps[eid][0], t0 + H)
    with store.session() as s:
        anneal = {eid: next(r.step.id for r in ready_steps(s) if r.step.experiment_id == eid)
                  for eid in (flying, failed, finished)}
        claim_step_intent(s, anneal[flying], "furnace-1", t0 + H, None, None)
        claim_step_intent(s, anneal[failed], "furnace-2", t0 + H, None, None)
        fail_step(s, anneal[failed], t0 + 2 * H, "broke")
        transition(s, finished, ExperimentState.CANCELLED, t0 + H, reason="done with it")
    with store.session() as s:
        ready = ready_steps(s)
        by_exp = {r.step.experiment_id: r for r in ready}
        # the same answer as asking one experiment at a time
        expected = {eid for eid in (fresh, dosed, flying, failed, waiting)
                    if next_planned_step(s, eid) is not None
                    and get_experiment(s, eid).state in (ExperimentState.PROPOSED, ExperimentState.RUNNING,
                                                         ExperimentState.DISPATCHED)}
        assert set(by_exp) == expected == {fresh, dosed, waiting}
        assert [(r.step.experiment_id, r.step.seq) for r in ready] == [(fresh, 0), (dosed, 1), (waiting, 0)]
        assert by_exp[fresh].campaign_status == "running" and by_exp[fresh].approval_required is False
        assert by_exp[waiting].campaign_status == "queued" and by_exp[waiting].approval_required is True
        assert by_exp[waiting].approved is False and by_exp[fresh].experiment_state == ExperimentState.PROPOSED
        assert [r.step.experiment_id for r in ready_steps(s, kinds=["furnace"])] == [dosed]
        assert [r.step.experiment_id for r in ready_steps(s, campaign_ids=[other])] == [waiting]
        assert ready_steps(s, campaign_ids=[]) == []
        approve_decision(s, get_experiment(s, waiting).decision_id, t0 + H)
    with store.session() as s:
        assert [r.approved for r in ready_steps(s, campaign_ids=[other])] == [True]
        set_campaign_status(s, cid, "paused", t0 + 2 * H, pause_mode="now")
    with store.session() as s:
        assert {(r.campaign_status, r.pause_mode) for r in ready_steps(s, campaign_ids=[cid])} == {("paused", "now")}
        assert campaigns_in(s, ["paused", "queued"]) == [cid, other] and campaigns_in(s, ["running"]) == []


def test_steps_in_flight_on_a_hosts_instruments_only(store: Store, new_campaign: Callable[..., int], t0: datetime) -> None:
    cid = new_campaign()
    a, b, c = _experiments(store, cid, t0, 3)
    first = {eid: _step(store, eid, 0) for eid in (a, b, c)}
    with store.session() as s:
        claim_step_intent(s, first[b], "doser-2", t0 + H, None, None)
        claim_step_intent(s, first[a], "doser-1", t0, None, None)
        done = first[c]
        claim_step_intent(s, done, "doser-3", t0, None, None)
        finish_step(s, done, t0 + H)
    with store.session() as s:
        flying = steps_in_flight_on(s, ["doser-1", "doser-2", "doser-3", "furnace-1"])
        assert [(f.step.experiment_id, f.step.instrument, f.step.state) for f in flying] == \
            [(a, "doser-1", "intent"), (b, "doser-2", "intent")]  # oldest intent first; done ones are not in flight
        assert [f.step.instrument for f in steps_in_flight_on(s, ["doser-2"])] == ["doser-2"]
        assert steps_in_flight_on(s, []) == []


def test_steps_of_several_experiments_in_one_query(store: Store, new_campaign: Callable[..., int], t0: datetime) -> None:
    cid = new_campaign()
    a, b = _experiments(store, cid, t0, 2)
    with store.session() as s:
        both = steps_of(s, [a, b])
        assert {eid: [st.seq for st in steps] for eid, steps in both.items()} == {a: [0, 1, 2], b: [0, 1, 2]}
        assert both[a] == list_steps(s, a) and steps_of(s, [b]) == {b: list_steps(s, b)} and steps_of(s, []) == {}
