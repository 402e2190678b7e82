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
