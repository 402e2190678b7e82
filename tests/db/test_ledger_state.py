"""load_state: what a policy sees (observations, pending, budget, decision index)."""

from __future__ import annotations

from datetime import timedelta

from db.engine import Store
from db.ledger import (
    add_reward_definition,
    load_state,
    record_decision,
    store_analysis,
    store_reward,
    transition,
)
from lab.experiment import ExperimentState, Proposal
from lab.reward import RewardDefinition, RewardTerm
from lab.state import CampaignState, Observation, PendingExperiment

S = ExperimentState
H = timedelta(hours=1)


def _params(i: int) -> dict:
    return {"temperature_c": 700.0 + 50 * i, "atmosphere": "air" if i % 2 else "O2"}


def test_load_state_builds_observations_pending_and_budget(store: Store, new_campaign, spec_for, t0) -> None:
    cid = new_campaign(spec=spec_for(budget=10), seed=11)
    with store.session() as s:
        ids = record_decision(s, cid, [Proposal(_params(i), "sobol", "1") for i in range(4)], pending_ids=[],
                              made_at=t0, expected_completion=t0 + 8 * H, deadline=t0 + 12 * H)
        ids += record_decision(s, cid, [Proposal(_params(i), "sobol", "1") for i in range(4, 8)], pending_ids=ids,
                               made_at=t0 + H, expected_completion=t0 + 9 * H, deadline=t0 + 13 * H)
        add_reward_definition(s, cid, RewardDefinition("v2", (RewardTerm("target_fraction", 10.0),), -5.0), t0)
    e = dict(enumerate(ids))
    with store.session() as s:
        # e0: rewarded (measured second); e1: measured, analysed, not yet rewarded (measured first);
        # e2: chemistry failure; e3: lost; e4: cancelled; e5: running; e6: dispatched; e7: proposed
        for i in (0, 1, 2, 3, 5, 6):
            transition(s, e[i], S.DISPATCHED, t0 + 2 * H)
        for i in (0, 1, 5):
            transition(s, e[i], S.RUNNING, t0 + 3 * H)
        transition(s, e[1], S.MEASURED, t0 + 9 * H)
        transition(s, e[0], S.MEASURED, t0 + 10 * H)
        store_analysis(s, e[0], {"target_fraction": 0.8, "impurity_fraction": 0.1}, {}, t0 + 10 * H)
        store_analysis(s, e[1], {"target_fraction": 0.3, "impurity_fraction": 0.5}, {}, t0 + 9 * H)
        store_reward(s, e[0], "v1", 0.8, t0 + 10 * H)
        store_reward(s, e[0], "v2", 8.0, t0 + 10 * H)
        transition(s, e[0], S.REWARDED, t0 + 10 * H)
        transition(s, e[2], S.FAILED, t0 + 11 * H, reason="melted")
        transition(s, e[3], S.LOST, t0 + 14 * H, reason="deadline passed")
        transition(s, e[4], S.CANCELLED, t0 + 2 * H)
    now = t0 + 15 * H
    with store.session() as s:
        state = load_state(s, cid, now=now)
        v2 = load_state(s, cid, now=now, reward_version="v2")
    assert isinstance(state, CampaignState)
    assert state.observations == (
        Observation(_params(1), {"target_fraction": 0.3, "impurity_fraction": 0.5}, None, False, e[1]),
        Observation(_params(0), {"target_fraction": 0.8, "impurity_fraction": 0.1}, 0.8, False, e[0]),
        Observation(_params(2), {}, -1.0, True, e[2]),  # the v1 failure reward
    )
    assert state.pending == (
        PendingExperiment(_params(5), t0 + 9 * H, e[5]),
        PendingExperiment(_params(6), t0 + 9 * H, e[6]),
        PendingExperiment(_params(7), t0 + 9 * H, e[7]),
    )
    assert state.budget_remaining == 10 - 7  # everything but the cancelled one counts, the lost one too
    assert (state.decision_index, state.seed, state.now) == (2, 11, now)
    assert state.space.names == ("temperature_c", "atmosphere")
    assert [o.name for o in state.objectives] == ["target_fraction", "impurity_fraction"]
    assert state.best().experiment_id == e[0]
    assert [o.reward for o in v2.observations] == [None, 8.0, -5.0]
    assert CampaignState.from_dict(state.to_dict()) == state


def test_an_empty_campaign_and_an_unlimited_budget(store: Store, new_campaign, spec_for, t0) -> None:
    cid = new_campaign(spec=spec_for(budget=None))
    with store.session() as s:
        state = load_state(s, cid, now=t0)
    assert (state.observations, state.pending, state.budget_remaining, state.decision_index) == ((), (), None, 0)


def test_the_budget_never_goes_negative(store: Store, new_campaign, spec_for, t0) -> None:
    cid = new_campaign(spec=spec_for(budget=2))
    with store.session() as s:
        record_decision(s, cid, [Proposal(_params(i), "sobol", "1") for i in range(3)], pending_ids=[], made_at=t0,
                        expected_completion=None, deadline=None)
        assert load_state(s, cid, now=t0).budget_remaining == 0


def test_a_replayed_decision_sees_what_the_live_state_showed_when_it_was_made(store: Store, new_campaign, spec_for,
                                                                             t0) -> None:
    """state_at_decision is load_state with the decision's time as the bound: later events change nothing."""
    from db.ledger import list_decisions, state_at_decision

    cid = new_campaign(spec=spec_for(budget=6), seed=3)
    with store.session() as s:
        first = record_decision(s, cid, [Proposal(_params(i), "sobol", "1") for i in range(3)], pending_ids=[],
                                made_at=t0, expected_completion=t0 + 8 * H, deadline=t0 + 12 * H)
        for i in first:
            transition(s, i, S.DISPATCHED, t0 + H)
        transition(s, first[0], S.RUNNING, t0 + 2 * H)
        transition(s, first[0], S.MEASURED, t0 + 5 * H)
        store_analysis(s, first[0], {"target_fraction": 0.6}, {}, t0 + 5 * H)
        store_reward(s, first[0], "v1", 0.6, t0 + 5 * H)
        transition(s, first[0], S.REWARDED, t0 + 5 * H)
        transition(s, first[1], S.FAILED, t0 + 6 * H, reason="melted")
    made = t0 + 7 * H
    with store.session() as s:
        live = load_state(s, cid, now=made)
        record_decision(s, cid, [Proposal(_params(5), "sobol", "1")], pending_ids=[first[2]], made_at=made,
                        expected_completion=made + 8 * H, deadline=made + 12 * H)
    with store.session() as s:  # what happens after the decision must not leak into its replay
        transition(s, first[2], S.RUNNING, made + H)
        transition(s, first[2], S.MEASURED, made + 2 * H)
        store_analysis(s, first[2], {"target_fraction": 0.9}, {}, made + 2 * H)
    with store.session() as s:
        replayed = state_at_decision(s, list_decisions(s, cid)[1].id)
    assert replayed == live
    assert [o.experiment_id for o in replayed.observations] == [first[0], first[1]]
    assert replayed.observations[1].failed and replayed.observations[1].reward == -1.0
    assert [p.experiment_id for p in replayed.pending] == [first[2]] and replayed.budget_remaining == 3
