"""Reviews of proposed batches in the ledger: approval, rejection, and what the policy sees of a rejection."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.engine import Store
from db.errors import ConflictingRecord
from db.ledger import (
    REJECTED_PREFIX,
    approve_decision,
    decision_at_index,
    get_campaign,
    get_decision,
    list_experiments,
    load_state,
    record_decision,
    reject_decision,
    set_campaign_status,
    state_at_decision,
    transition,
)
from lab.experiment import ExperimentState, Proposal
from lab.state import CampaignState

H = timedelta(hours=1)
S = ExperimentState


def _batch(store: Store, cid: int, at, temperatures: list[float]) -> list[int]:
    with store.session() as s:
        return record_decision(s, cid, [Proposal({"temperature_c": t, "atmosphere": "air"}, "sobol", "1")
                                        for t in temperatures], pending_ids=[], made_at=at, expected_completion=None,
                               deadline=None)


def test_a_rejected_batch_is_cancelled_with_its_reason_and_cannot_be_approved(store: Store, new_campaign, t0) -> None:
    cid = new_campaign(approval_required=True)
    ids = _batch(store, cid, t0, [800.0, 900.0])
    with store.session() as s:
        d = decision_at_index(s, cid, 0)
        assert d is not None and decision_at_index(s, cid, 1) is None
        rejected = reject_decision(s, d.id, t0 + H, "too close to the furnace's limit")
    assert (rejected.rejected_at, rejected.review_reason, rejected.approved_at) == (t0 + H, "too close to the furnace's limit", None)
    with store.session() as s:
        cancelled = list_experiments(s, cid)
        again = reject_decision(s, d.id, t0 + 2 * H, "another reason")  # a second rejection changes nothing
    assert [e.id for e in cancelled] == ids
    assert all(e.state == S.CANCELLED and e.reason == REJECTED_PREFIX + "too close to the furnace's limit" for e in cancelled)
    assert (again.rejected_at, again.review_reason) == (t0 + H, "too close to the furnace's limit")
    with pytest.raises(ConflictingRecord, match="was rejected"):
        with store.session() as s:
            approve_decision(s, d.id, t0 + 2 * H)
    with store.session() as s:
        assert get_decision(s, d.id).approved_at is None


def test_an_approved_or_started_batch_cannot_be_rejected(store: Store, new_campaign, t0) -> None:
    cid = new_campaign(approval_required=True)
    _batch(store, cid, t0, [800.0])
    started = _batch(store, cid, t0 + H, [1000.0, 1100.0])
    with store.session() as s:
        first, second = decision_at_index(s, cid, 0), decision_at_index(s, cid, 1)
        assert first is not None and second is not None
        approve_decision(s, first.id, t0 + H)
        transition(s, started[0], S.DISPATCHED, t0 + 2 * H)
    with pytest.raises(ConflictingRecord, match="was approved"):
        with store.session() as s:
            reject_decision(s, first.id, t0 + 3 * H, "changed my mind")
    with pytest.raises(ConflictingRecord, match="has started experiments"):
        with store.session() as s:
            reject_decision(s, second.id, t0 + 3 * H, "too hot")
    with store.session() as s:  # nothing was written by the refusals
        assert get_decision(s, second.id).rejected_at is None
        assert [e.state for e in list_experiments(s, cid)] == [S.PROPOSED, S.DISPATCHED, S.PROPOSED]


def test_the_policy_sees_rejected_parameters_live_and_as_of_each_decision(store: Store, new_campaign, t0) -> None:
    cid = new_campaign(approval_required=True)
    rejected_ids = _batch(store, cid, t0, [800.0, 900.0])
    with store.session() as s:
        d0 = decision_at_index(s, cid, 0)
        assert d0 is not None
        reject_decision(s, d0.id, t0 + H, "air is wrong here")
    _batch(store, cid, t0 + 2 * H, [1000.0])
    with store.session() as s:
        live = load_state(s, cid, now=t0 + 3 * H)
        d1 = decision_at_index(s, cid, 1)
        assert d1 is not None
        then = state_at_decision(s, d1.id)
        before = state_at_decision(s, d0.id)
    assert [(r.params["temperature_c"], r.reason, r.experiment_id) for r in live.rejected] == \
        [(800.0, "air is wrong here", rejected_ids[0]), (900.0, "air is wrong here", rejected_ids[1])]
    assert [p.params["temperature_c"] for p in live.pending] == [1000.0]  # rejected ones are not pending
    assert live.budget_remaining == 9  # and use no budget
    assert then.rejected == live.rejected and before.rejected == ()
    assert CampaignState.from_dict(live.to_dict()) == live


def test_pause_mode_is_kept_while_paused_and_cleared_on_resume(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    with store.session() as s:
        assert set_campaign_status(s, cid, "paused", t0, pause_mode="now").pause_mode == "now"
        assert get_campaign(s, cid).pause_mode == "now"
        assert set_campaign_status(s, cid, "running", t0 + H).pause_mode is None
        with pytest.raises(ValueError, match="unknown pause mode 'later'"):
            set_campaign_status(s, cid, "paused", t0, pause_mode="later")
