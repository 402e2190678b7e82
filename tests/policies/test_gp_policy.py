"""The qLogNEI GP policy: contract, pending experiments, fallbacks, and that it beats random."""

from __future__ import annotations

import logging
import math
import statistics

import policies.gp as gp_module
from lab.search_space import ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment
from policies import make_policy
from policies.protocol import point_key

SMALL = {"pool_size": 256, "mc_samples": 64}


def _keys(space, params_list):
    return [point_key(space.encode(p)) for p in params_list]


def test_valid_distinct_proposals_in_a_mixed_space(space, make_state) -> None:
    state = make_state(space, n_obs=12, n_pending=2)
    proposals = make_policy("qlognei", **SMALL).propose(state, 4)
    assert len(proposals) == 4
    for p in proposals:
        space.check(p.params)
        assert p.policy == "qlognei" and p.policy_version == "1+mc_samples=64,pool_size=256" and p.log_prob == 0.0
        assert p.fallback is None
        assert p.detail["acquisition"] == "qLogNEI" and isinstance(p.detail["acq_value"], float)
        assert p.detail["n_train"] == 12 and p.detail["n_pending"] == 2
    assert [p.detail["pick"] for p in proposals] == [0, 1, 2, 3]
    assert len(set(_keys(space, [p.params for p in proposals]))) == 4


def test_honours_n_and_budget(space, make_state) -> None:
    policy = make_policy("qlognei", **SMALL)
    assert len(policy.propose(make_state(space, 8, budget=2), 5)) == 2
    assert policy.propose(make_state(space, 8, budget=0), 5) == []
    assert len(policy.propose(make_state(space, 1, budget=2), 5)) == 2  # fallback path too


def test_does_not_repropose_pending_points(space, make_state) -> None:
    policy = make_policy("qlognei", **SMALL)
    state = make_state(space, n_obs=10, seed=2, decision_index=4)
    first = policy.propose(state, 3)
    # the first batch is now in flight; asking again at the same decision index (same pool) must avoid it
    pending = tuple(PendingExperiment(p.params) for p in first)
    busy = CampaignState(state.space, state.objectives, state.observations, pending,
                         decision_index=state.decision_index, seed=state.seed)
    second = policy.propose(busy, 3)
    assert len(second) == 3 and all(p.detail["n_pending"] == 3 for p in second)
    first_keys = set(_keys(space, [p.params for p in first]))
    second_keys = _keys(space, [p.params for p in second])
    assert len(set(second_keys)) == 3 and not first_keys & set(second_keys)


def test_deterministic_given_seed_and_decision(space, make_state) -> None:
    state = make_state(space, n_obs=10, n_pending=1, seed=5, decision_index=2)
    a = make_policy("qlognei", **SMALL).propose(state, 3)
    b = make_policy("qlognei", **SMALL).propose(state, 3)
    assert [p.params for p in a] == [p.params for p in b]


def test_too_few_observations_falls_back_to_sobol_and_says_so(space, make_state) -> None:
    proposals = make_policy("qlognei", n_init=3).propose(make_state(space, n_obs=2, n_pending=1), 3)
    assert len(proposals) == 3
    for p in proposals:
        space.check(p.params)
        assert p.fallback.policy == "sobol"
        assert p.fallback.reason.startswith("too few observations for a GP (2 usable, n_init=3)")
        assert p.policy == "qlognei"
    sobol = make_policy("sobol").propose(make_state(space, n_obs=2, n_pending=1), 3)
    assert [p.params for p in proposals] == [p.params for p in sobol]


def test_equal_targets_fall_back_with_a_reason(space, make_state) -> None:
    state = make_state(space, n_obs=6, score=lambda p: 1.0)
    proposals = make_policy("qlognei", **SMALL).propose(state, 2)
    assert len(proposals) == 2
    for p in proposals:
        assert p.fallback.policy == "sobol" and "all training targets are equal" in p.fallback.reason


def test_gp_failure_falls_back_and_logs(space, monkeypatch, caplog, make_state) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("cholesky failed")

    monkeypatch.setattr(gp_module, "fit_gp", broken)
    with caplog.at_level(logging.WARNING, logger="policies.gp"):
        proposals = make_policy("qlognei", **SMALL).propose(make_state(space, n_obs=8), 2)
    assert len(proposals) == 2
    assert proposals[0].fallback.reason == "GP step failed: RuntimeError: cholesky failed"
    assert "falling back to Sobol" in caplog.text


def _bump(params) -> float:
    return math.exp(-((params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2) / (2 * 0.15**2))


def test_gp_proposals_beat_random_ones_on_a_smooth_bump() -> None:
    """After 10 random points, GP picks score higher than random picks (medians over 8 seeds x 4)."""
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", 0.0, 1.0)))
    rnd, gp = make_policy("random"), make_policy("qlognei", pool_size=512)
    gp_scores: list[float] = []
    random_scores: list[float] = []
    for seed in range(8):
        init = rnd.propose(CampaignState(space, (Objective("f"),), seed=seed), 10)
        obs = tuple(Observation(p.params, {"f": _bump(p.params)}, _bump(p.params)) for p in init)
        state = CampaignState(space, (Objective("f"),), obs, seed=seed, decision_index=1)
        picks = gp.propose(state, 4)
        assert all(p.fallback is None for p in picks)
        gp_scores += [_bump(p.params) for p in picks]
        random_scores += [_bump(p.params) for p in rnd.propose(state, 4)]
    assert statistics.median(gp_scores) > statistics.median(random_scores)
