"""Random and Sobol policies: the contract in a mixed space, determinism, log_prob, continuation."""

from __future__ import annotations

import math

import pytest

from lab.search_space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
)
from lab.state import CampaignState, Objective, PendingExperiment
from policies import make_policy
from policies.protocol import point_key


def _keys(space, proposals):
    return [point_key(space.encode(p.params)) for p in proposals]


@pytest.mark.parametrize("name", ["random", "sobol"])
def test_valid_distinct_untried_proposals_in_a_mixed_space(space, name, make_state) -> None:
    state = make_state(space, n_obs=6, n_pending=3)
    proposals = make_policy(name).propose(state, 8)
    assert len(proposals) == 8
    for p in proposals:
        space.check(p.params)
        assert p.policy == name and p.policy_version == "1"
    keys = _keys(space, proposals)
    taken = {point_key(space.encode(o.params)) for o in (*state.observations, *state.pending)}
    assert len(set(keys)) == 8 and not set(keys) & taken


@pytest.mark.parametrize("name", ["random", "sobol"])
def test_honours_n_and_budget(space, name, make_state) -> None:
    policy = make_policy(name)
    assert len(policy.propose(make_state(space, 2, budget=3), 5)) == 3
    assert len(policy.propose(make_state(space, 2, budget=10), 4)) == 4
    assert policy.propose(make_state(space, 2, budget=0), 4) == []
    assert policy.propose(make_state(space, 2), 0) == []


@pytest.mark.parametrize("name", ["random", "sobol"])
def test_deterministic_given_seed_and_decision(space, name, make_state) -> None:
    policy = make_policy(name)
    a = policy.propose(make_state(space, 4, 1, seed=3, decision_index=5), 4)
    assert a == make_policy(name).propose(make_state(space, 4, 1, seed=3, decision_index=5), 4)
    assert a != policy.propose(make_state(space, 4, 1, seed=4, decision_index=5), 4)


def test_random_changes_with_decision_index(space, make_state) -> None:
    policy = make_policy("random")
    first = policy.propose(make_state(space, 4, decision_index=1), 3)
    assert first != policy.propose(make_state(space, 4, decision_index=2), 3)


def test_random_log_prob_is_uniform_density_on_the_encoded_space(space, make_state) -> None:
    expected = -math.log(12) - math.log(3)  # dwell_h has 12 values, atmosphere 3; continuous parts add 0
    for p in make_policy("random").propose(make_state(space, 3), 5):
        assert p.log_prob == pytest.approx(expected)


def test_random_in_a_small_discrete_space_is_exact_and_stops_when_exhausted() -> None:
    space = SearchSpace((IntegerParameter("k", 1, 3), CategoricalParameter("gas", ("air", "O2"))))
    pending = (PendingExperiment({"k": 1, "gas": "air"}),)
    state = CampaignState(space, (Objective("y"),), pending=pending, seed=2)
    proposals = make_policy("random").propose(state, 10)
    assert len(proposals) == 5  # 6 points, 1 pending
    assert [p.log_prob for p in proposals] == pytest.approx([-math.log(m) for m in (5, 4, 3, 2, 1)])
    chosen = {(p.params["k"], p.params["gas"]) for p in proposals}
    assert chosen | {(1, "air")} == {(k, g) for k in (1, 2, 3) for g in ("air", "O2")}


def test_sobol_is_deterministic_with_zero_log_prob(space, make_state) -> None:
    assert all(p.log_prob == 0.0 for p in make_policy("sobol").propose(make_state(space, 0), 4))


def test_sobol_continues_its_sequence_across_calls() -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", -1.0, 1.0)))
    policy = make_policy("sobol")
    state = CampaignState(space, (Objective("y"),), seed=11)
    eight = [p.params for p in policy.propose(state, 8)]
    first = policy.propose(state, 3)
    # the first three are dispatched (pending); the next call continues where they stopped
    state2 = CampaignState(space, (Objective("y"),), pending=tuple(PendingExperiment(p.params) for p in first),
                           seed=11, decision_index=1)
    second = policy.propose(state2, 5)
    assert [p.params for p in first + second] == eight
    assert second[0].detail["sequence_start"] == 3


def test_sobol_skips_repeats_in_a_discrete_space() -> None:
    space = SearchSpace((IntegerParameter("k", 0, 1), CategoricalParameter("gas", ("air", "O2"))))
    proposals = make_policy("sobol").propose(CampaignState(space, (Objective("y"),)), 10)
    assert sorted((p.params["k"], p.params["gas"]) for p in proposals) == [(0, "O2"), (0, "air"), (1, "O2"), (1, "air")]
