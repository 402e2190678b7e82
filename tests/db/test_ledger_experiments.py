"""Decisions and experiments: recording proposals, the state machine, timestamps and queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db.engine import Store
from db.errors import CampaignNotFound, ExperimentNotFound, InvalidTransition
from db.ledger import (
    approve_decision,
    count_by_state,
    get_decision,
    get_experiment,
    list_decisions,
    list_experiments,
    record_decision,
    transition,
)
from lab.errors import StateTransitionError
from lab.experiment import ExperimentState, Fallback, Proposal

S = ExperimentState
H = timedelta(hours=1)


def _proposals(n: int, version: str = "3") -> list[Proposal]:
    return [Proposal({"temperature_c": 800.0 + 100 * i, "atmosphere": "air"}, "metabo", version, -1.5 - i,
                     {"acq": 0.1 * i}) for i in range(n)]


def _decide(store: Store, cid: int, t0: datetime, n: int = 3, pending: list[int] | None = None) -> list[int]:
    with store.session() as s:
        return record_decision(s, cid, _proposals(n), pending_ids=pending or [], made_at=t0,
                               expected_completion=t0 + 8 * H, deadline=t0 + 12 * H, candidate_key="pool:abc123")


def test_a_decision_creates_proposed_experiments_with_sample_ids(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    ids = _decide(store, cid, t0)
    later = _decide(store, cid, t0 + H, n=1, pending=ids)
    with store.session() as s:
        first = get_experiment(s, ids[1])
        decisions = list_decisions(s, cid)
        assert get_decision(s, decisions[1].id) == decisions[1]
    assert first.state is S.PROPOSED and first.sample_id == f"C{cid}-E{ids[1]}"
    assert first.params == {"temperature_c": 900.0, "atmosphere": "air"}
    assert (first.policy, first.policy_version, first.log_prob, first.decision_index) == ("metabo", "3", -2.5, 0)
    assert first.timestamps == {"proposed": t0} and first.proposed_at == t0
    assert (first.expected_completion, first.deadline) == (t0 + 8 * H, t0 + 12 * H)
    d0, d1 = decisions
    assert (d0.index, d1.index) == (0, 1)
    assert d0.log_prob == pytest.approx(-1.5 - 2.5 - 3.5)
    assert d0.experiment_ids == tuple(ids) and d1.experiment_ids == tuple(later)
    assert d1.pending_experiment_ids == tuple(ids)
    assert d0.candidate_key == "pool:abc123" and d0.detail["proposal_details"][2] == {"acq": pytest.approx(0.2)}
    assert d0.approved_at is None


def test_approval_is_recorded_once(store: Store, new_campaign, t0) -> None:
    cid = new_campaign(approval_required=True)
    _decide(store, cid, t0)
    with store.session() as s:
        decision = list_decisions(s, cid)[0]
        assert approve_decision(s, decision.id, t0 + H).approved_at == t0 + H
        assert approve_decision(s, decision.id, t0 + 2 * H).approved_at == t0 + H


def test_a_decision_is_one_policy_version(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    mixed = _proposals(1, "3") + _proposals(1, "4")
    with pytest.raises(ValueError, match="one policy version"):
        with store.session() as s:
            record_decision(s, cid, mixed, pending_ids=[], made_at=t0, expected_completion=None, deadline=None)
    with pytest.raises(CampaignNotFound):
        with store.session() as s:
            record_decision(s, 999, _proposals(1), pending_ids=[], made_at=t0, expected_completion=None, deadline=None)


@pytest.mark.parametrize("path", [
    [S.DISPATCHED, S.RUNNING, S.MEASURED, S.REWARDED],
    [S.CANCELLED],
    [S.DISPATCHED, S.FAILED],
    [S.DISPATCHED, S.LOST],
    [S.DISPATCHED, S.RUNNING, S.FAILED],
    [S.DISPATCHED, S.RUNNING, S.LOST],
])
def test_every_state_gets_its_timestamp(store: Store, new_campaign, t0, path: list[ExperimentState]) -> None:
    cid = new_campaign()
    [eid] = _decide(store, cid, t0, n=1)
    expected = {"proposed": t0}
    for hours, state in enumerate(path, start=1):
        with store.session() as s:
            info = transition(s, eid, state, t0 + hours * H, reason="furnace 2 silent" if state is S.LOST else None)
        expected[state.value] = t0 + hours * H
        assert info.state is state
    with store.session() as s:
        final = get_experiment(s, eid)
    assert final.timestamps == expected
    assert final.reason == ("furnace 2 silent" if path[-1] is S.LOST else None)


def test_invalid_transitions_raise_and_write_nothing(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _decide(store, cid, t0, n=1)
    with pytest.raises(InvalidTransition) as caught:
        with store.session() as s:
            transition(s, eid, S.MEASURED, t0 + H)
    assert isinstance(caught.value.__cause__, StateTransitionError)
    assert f"C{cid}-E{eid}" in str(caught.value) and "proposed to measured" in str(caught.value)
    with store.session() as s:  # caught inside the session: the session still commits, nothing changed
        with pytest.raises(InvalidTransition):
            transition(s, eid, S.REWARDED, t0 + H, reason="should not be kept")
    with store.session() as s:
        info = get_experiment(s, eid)
        transition(s, eid, S.CANCELLED, t0 + 2 * H, reason="scientist said no")
        with pytest.raises(InvalidTransition, match="terminal"):
            transition(s, eid, S.DISPATCHED, t0 + 3 * H)
    assert info.state is S.PROPOSED and info.timestamps == {"proposed": t0} and info.reason is None


def test_dispatch_can_update_the_schedule(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    [eid] = _decide(store, cid, t0, n=1)
    with store.session() as s:
        info = transition(s, eid, "dispatched", t0 + H, expected_completion=t0 + 10 * H, deadline=t0 + 14 * H)
    assert (info.expected_completion, info.deadline) == (t0 + 10 * H, t0 + 14 * H)


def test_listing_and_counting_by_state(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    other = new_campaign()
    ids = _decide(store, cid, t0, n=4)
    _decide(store, other, t0, n=2)
    with store.session() as s:
        transition(s, ids[0], S.DISPATCHED, t0 + H)
        transition(s, ids[1], S.DISPATCHED, t0 + H)
        transition(s, ids[1], S.RUNNING, t0 + 2 * H)
        transition(s, ids[3], S.CANCELLED, t0 + H)
    with store.session() as s:
        counts = count_by_state(s, cid)
        in_flight = list_experiments(s, cid, states=[S.DISPATCHED, "running"])
        everything = list_experiments(s, cid)
    assert counts == {"proposed": 1, "dispatched": 1, "running": 1, "measured": 0, "rewarded": 0, "cancelled": 1,
                      "failed": 0, "lost": 0}
    assert [e.id for e in in_flight] == ids[:2]
    assert [e.id for e in everything] == ids


def test_missing_experiment(store: Store, t0) -> None:
    with pytest.raises(ExperimentNotFound, match="no experiment with id 5"):
        with store.session() as s:
            transition(s, 5, S.DISPATCHED, t0)


def test_a_fallback_pick_is_kept_with_its_decision(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    picks = [Proposal({"temperature_c": 800.0 + i, "atmosphere": "air"}, "rl", "v1", 0.0, {"acq": 1.0},
                      None if i else Fallback("qlognei", "guardrail: 9 dimensions, trained on 1-6")) for i in range(2)]
    with store.session() as s:
        record_decision(s, cid, picks, pending_ids=[], made_at=t0, expected_completion=None, deadline=None)
    with store.session() as s:
        (d,) = list_decisions(s, cid)
    assert d.fallbacks == (Fallback("qlognei", "guardrail: 9 dimensions, trained on 1-6"), None)
    assert d.detail["proposal_details"][1] == {"acq": 1.0}
