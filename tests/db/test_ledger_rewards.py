"""Analyses (latest wins) and rewards kept per reward-definition version."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.engine import Store
from db.errors import ConflictingRecord, RewardVersionNotFound
from db.ledger import (
    add_reward_definition,
    get_campaign,
    get_reward_definition,
    latest_analysis,
    latest_objectives,
    list_reward_definitions,
    record_decision,
    rewards_for,
    set_active_reward_version,
    store_analysis,
    store_reward,
)
from lab.experiment import Proposal
from lab.reward import RewardDefinition, RewardTerm

H = timedelta(hours=1)
V2 = RewardDefinition("v2", (RewardTerm("target_fraction", 1.0), RewardTerm("impurity_fraction", 0.5)), -2.0)


def _experiments(store: Store, cid: int, t0, n: int) -> list[int]:
    with store.session() as s:
        return record_decision(s, cid, [Proposal({"temperature_c": 900.0 + i, "atmosphere": "air"}, "random", "1")
                                        for i in range(n)], pending_ids=[], made_at=t0, expected_completion=None,
                               deadline=None)


def test_the_latest_analysis_wins(store: Store, new_campaign, t0) -> None:
    [eid] = _experiments(store, new_campaign(), t0, 1)
    with store.session() as s:
        assert latest_objectives(s, eid) is None
        store_analysis(s, eid, {"target_fraction": 0.61}, {"method": "nnls", "residual": 0.03}, t0 + H)
        store_analysis(s, eid, {"target_fraction": 0.64, "impurity_fraction": 0.1}, {"method": "rietveld"}, t0 + 2 * H)
    with store.session() as s:
        assert latest_objectives(s, eid) == {"target_fraction": 0.64, "impurity_fraction": 0.1}
        assert latest_analysis(s, eid).detail == {"method": "rietveld"}
    with pytest.raises(ValueError, match="finite"):
        with store.session() as s:
            store_analysis(s, eid, {"target_fraction": float("nan")}, {}, t0)


def test_reward_definitions_are_versioned_and_immutable(store: Store, new_campaign, reward_v1, t0) -> None:
    cid = new_campaign()
    with store.session() as s:
        add_reward_definition(s, cid, V2, t0 + H)
        add_reward_definition(s, cid, V2, t0 + 2 * H)  # the same again: nothing happens
        assert get_reward_definition(s, cid) == reward_v1  # adding does not activate
        assert get_reward_definition(s, cid, "v2") == V2
        set_active_reward_version(s, cid, "v2")
        assert get_reward_definition(s, cid) == V2 and get_campaign(s, cid).reward_version == "v2"
        assert [d.version for d in list_reward_definitions(s, cid)] == ["v1", "v2"]
    changed = RewardDefinition("v2", (RewardTerm("target_fraction", 2.0),))
    with pytest.raises(ConflictingRecord, match="new version"):
        with store.session() as s:
            add_reward_definition(s, cid, changed, t0 + 3 * H)
    with pytest.raises(RewardVersionNotFound, match="v1, v2"):
        with store.session() as s:
            set_active_reward_version(s, cid, "v9")


def test_rewards_are_kept_per_version(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    other = new_campaign()
    e1, e2 = _experiments(store, cid, t0, 2)
    [e3] = _experiments(store, other, t0, 1)
    with store.session() as s:
        add_reward_definition(s, cid, V2, t0)
        store_reward(s, e1, "v1", 0.64, t0 + H)
        store_reward(s, e2, "v1", 0.20, t0 + H)
        store_reward(s, e1, "v2", 0.59, t0 + 5 * H)
        store_reward(s, e3, "v1", 0.99, t0 + H)
        store_reward(s, e1, "v1", 0.64, t0 + 6 * H)  # idempotent: same value
    with store.session() as s:
        assert rewards_for(s, cid, "v1") == {e1: 0.64, e2: 0.20}
        assert rewards_for(s, cid, "v2") == {e1: 0.59}
        assert rewards_for(s, other, "v1") == {e3: 0.99}
    with pytest.raises(ConflictingRecord, match="replace=True"):
        with store.session() as s:
            store_reward(s, e1, "v1", 0.65, t0 + 7 * H)
    with store.session() as s:
        store_reward(s, e1, "v1", 0.65, t0 + 7 * H, replace=True)
        assert rewards_for(s, cid, "v1")[e1] == 0.65
    with pytest.raises(RewardVersionNotFound):
        with store.session() as s:
            store_reward(s, e3, "v2", 0.5, t0)  # v2 belongs to the other campaign
