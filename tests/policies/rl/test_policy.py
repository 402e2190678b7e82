"""RLPolicy: the Policy contract, log-probabilities, candidate sets, fallbacks, the guardrail, the registry."""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta

import pytest
import torch

from lab.search_space import ContinuousParameter, IntegerParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment
from policies import make_policy
from policies.errors import PolicyArgumentError
from policies.protocol import Policy, check_proposals, point_key
from policies.rl.checkpoint import PolicyBundle
from policies.rl.evidence import FEATURE_SET, GLOBAL_FEATURES
from policies.rl.network import AcquisitionNet
from policies.rl.policy import ENV_POLICY_FILE, RLPolicy, pick_log_probs

CONFIG = {"trained_range": {"dims": [1, 6], "lengthscale": [0.01, 1e4], "noise": [0, 1]}, "horizon": 20,
          "features": FEATURE_SET, "fit": {"gp_steps": 20, "trees": 8}}
POOL = 64
G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}


def _bundle(config=CONFIG, seed: int = 0) -> PolicyBundle:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = AcquisitionNet(hidden=8, layers=1)
    return PolicyBundle.from_net(net, config)


def _policy(config=CONFIG, **kw) -> RLPolicy:
    return RLPolicy.from_bundle(_bundle(config), pool_size=kw.pop("pool_size", POOL), **kw)


def _space() -> SearchSpace:
    return SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", -1.0, 1.0),
                        IntegerParameter("n", 1, 5)))


def _score(p) -> float:
    return math.sin(3 * p["x"]) + p["y"] ** 2 - 0.1 * p["n"]


def _keys(space, proposals):
    return [point_key(space.encode(p.params)) for p in proposals]


def test_proposals_keep_the_contract_and_carry_the_version(make_state) -> None:
    space = _space()
    policy = _policy()
    assert isinstance(policy, Policy) and policy.name == "rl" and policy.version == _bundle().version
    state = make_state(space, 8, n_pending=2, seed=3, decision_index=1, score=_score)
    proposals = policy.propose(state, 3)
    assert len(proposals) == 3
    check_proposals(state, 3, proposals)  # valid, distinct, not observed or pending
    assert len(set(_keys(space, proposals))) == 3
    for r, p in enumerate(proposals):
        assert p.policy == "rl" and p.policy_version == policy.version
        assert p.log_prob < 0 and p.fallback is None
        assert p.detail["pick"] == r and p.detail["n_train"] == 8 and p.detail["n_pending"] == 2
        assert p.detail["pool_size"] == POOL and p.detail["mode"] == "sample"
    assert len(policy.propose(make_state(space, 8, budget=2, score=_score), 3)) == 2
    assert policy.propose(make_state(space, 8, budget=0, score=_score), 3) == []


def test_deterministic_for_a_decision_and_different_for_another(make_state) -> None:
    space = _space()
    state = make_state(space, 8, n_pending=1, seed=5, decision_index=2, score=_score)
    a = _policy().propose(state, 3)
    b = _policy().propose(state, 3)
    assert [p.params for p in a] == [p.params for p in b] and [p.log_prob for p in a] == [p.log_prob for p in b]
    other = make_state(space, 8, n_pending=1, seed=5, decision_index=3, score=_score)
    assert other.observations == state.observations
    c = _policy().propose(other, 3)
    assert set(_keys(space, a)) != set(_keys(space, c))
    # on a fixed candidate set the pool is the same at both decisions: the sampling itself must differ
    cands = [{"x": i / 9, "y": -1 + j / 2, "n": 1 + (i + j) % 5} for i in range(10) for j in range(5)]
    on_set = _policy().with_candidates(cands)
    d, e = on_set.propose(state, 3), on_set.propose(other, 3)
    assert d[0].detail["pool_size"] == e[0].detail["pool_size"] == len(cands)
    assert [p.params for p in d] == [p.params for p in on_set.propose(state, 3)]
    assert [p.params for p in d] != [p.params for p in e]


def test_each_log_prob_is_the_networks_probability_given_the_earlier_picks(make_state) -> None:
    space = _space()
    policy = _policy()
    state = make_state(space, 8, n_pending=1, seed=1, score=_score)
    proposals = policy.propose(state, 3)
    inputs = policy.pick_inputs(state, [p.params for p in proposals])
    assert inputs is not None and len(inputs) == 3
    with torch.no_grad():
        recomputed = pick_log_probs(policy.net, inputs)
    assert recomputed.tolist() == pytest.approx([p.log_prob for p in proposals], abs=1e-5)
    # after each pick the features are recomputed with the earlier picks pending and masked out
    for j, inp in enumerate(inputs):
        assert int((~inp.mask).sum()) == j and bool(inp.mask[inp.index])
        assert float(inp.glob[G["pending"]]) == pytest.approx(math.log1p(1 + j) / 2)
        assert all(not bool(inp.mask[earlier.index]) for earlier in inputs[:j])
    assert policy.pick_inputs(state, [{"x": 0.123456, "y": 0.0, "n": 2}]) is None  # not in the pool


def test_greedy_mode_takes_the_most_likely_pick_each_time(make_state) -> None:
    space = _space()
    policy = _policy(mode="greedy")
    state = make_state(space, 8, seed=2, score=_score)
    proposals = policy.propose(state, 3)
    assert all(p.detail["mode"] == "greedy" for p in proposals)
    inputs = policy.pick_inputs(state, [p.params for p in proposals])
    with torch.no_grad():
        for inp in inputs:
            logits, _ = policy.net(inp.cand[None], inp.glob[None], inp.mask[None])
            assert int(logits[0].argmax()) == inp.index
    assert [p.params for p in proposals] == [p.params for p in _policy(mode="greedy").propose(state, 3)]


def test_with_candidates_it_proposes_only_untried_candidates() -> None:
    space = _space()
    cands = [{"x": i / 6, "y": -1 + j / 2, "n": 1 + (i + j) % 5} for i in range(7) for j in range(5)]
    obs = tuple(Observation(p, {"y": _score(p)}, _score(p)) for p in cands[:6])
    state = CampaignState(space, (Objective("y"),), obs, (PendingExperiment(cands[6]),), seed=4)
    policy = _policy().with_candidates(cands)
    proposals = policy.propose(state, 3)
    assert len(proposals) == 3 and all(p.fallback is None for p in proposals)
    check_proposals(state, 3, proposals)
    allowed = {point_key(space.encode(p)) for p in cands[7:]}
    assert set(_keys(space, proposals)) <= allowed
    assert all(p.detail["pool_size"] == len(cands) - 7 for p in proposals)
    # with as many proposals as untried candidates left, it proposes exactly those
    few = CampaignState(space, (Objective("y"),), obs, tuple(PendingExperiment(p) for p in cands[6:33]), seed=4)
    rest = policy.propose(few, 5)
    assert set(_keys(space, rest)) == {point_key(space.encode(p)) for p in cands[33:]}


def test_too_few_observations_fall_back_to_sobol(make_state) -> None:
    space = _space()
    policy = _policy()
    for n_obs in (0, 1):
        state = make_state(space, n_obs, n_pending=1, score=_score)
        proposals = policy.propose(state, 3)
        assert len(proposals) == 3
        check_proposals(state, 3, proposals)
        assert all(p.fallback.policy == "sobol" and p.log_prob == 0.0 for p in proposals)
        assert all(p.policy == "rl" and p.policy_version == policy.version for p in proposals)


def test_guardrail_falls_back_to_the_better_fitting_baseline_outside_the_trained_dimensions(make_state, monkeypatch) -> None:
    import policies.gp as gp

    monkeypatch.setattr(gp, "QLogNEIPolicy", functools.partial(gp.QLogNEIPolicy, pool_size=64, mc_samples=32))  # light
    space = SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(4)))
    narrow = {**CONFIG, "trained_range": {**CONFIG["trained_range"], "dims": [1, 2]}}
    state = make_state(space, 6, seed=1, score=lambda p: -sum((v - 0.3) ** 2 for v in p.values()))
    proposals = _policy(narrow).propose(state, 2)
    assert len(proposals) == 2
    check_proposals(state, 2, proposals)
    for p in proposals:
        assert p.fallback.policy in ("qlognei", "rf-ei") and "dimension" in p.fallback.reason
        assert "held-out log density" in p.fallback.reason
        assert p.fallback.reason.startswith("guardrail: ") and p.log_prob == 0.0 and p.policy == "rl"
    cands = [{f"x{i}": ((j * (i + 3)) % 11) / 10 for i in range(4)} for j in range(20)]
    on_set = _policy(narrow).with_candidates(cands).propose(state, 2)
    assert all(p.fallback.policy in ("qlognei", "rf-ei") for p in on_set)
    assert set(_keys(space, on_set)) <= {point_key(space.encode(c)) for c in cands}
    unguarded = _policy(narrow, guardrail=False).propose(state, 2)
    assert all(p.fallback is None and p.log_prob < 0 for p in unguarded)
    assert all(p.fallback is None for p in _policy().propose(state, 2))  # dims [1, 6] cover 4


def _feats(ls: list[float], noise: float):
    from policies.rl.evidence import Features

    z = torch.zeros(1)
    return Features(z, z, z, torch.tensor([ls], dtype=torch.float64), torch.tensor([noise], dtype=torch.float64), z, z)


def test_out_of_range_names_the_first_quantity_outside_training() -> None:
    policy = _policy({**CONFIG, "trained_range": {"dims": [2, 6], "lengthscale": [0.1, 0.5], "noise": [0.0, 0.01]}})
    assert policy.out_of_range(4, _feats([0.5] * 4, 0.01)) is None  # mean lengthscale 0.5 / sqrt(4) = 0.25
    assert "dimension" in policy.out_of_range(7, _feats([0.5] * 7, 0.0))
    assert "lengthscale" in policy.out_of_range(4, _feats([4.0] * 4, 0.0))
    assert "noise" in policy.out_of_range(4, _feats([0.5] * 4, 0.4))
    no_range = _policy({k: v for k, v in CONFIG.items() if k != "trained_range"})
    assert no_range.out_of_range(100, _feats([100.0] * 100, 100.0)) is None  # no trained range: no guardrail


def test_decision_inputs_time_to_next_result() -> None:
    space = _space()
    now = datetime(2024, 1, 1, 12)
    obs = tuple(Observation(p, {"y": _score(p)}, _score(p)) for p in (
        {"x": 0.1, "y": 0.0, "n": 1}, {"x": 0.5, "y": 0.5, "n": 2}, {"x": 0.9, "y": -0.5, "n": 3}))
    pend = (PendingExperiment({"x": 0.2, "y": 0.2, "n": 4}, now + timedelta(hours=1)),
            PendingExperiment({"x": 0.7, "y": 0.1, "n": 5}, now + timedelta(hours=4)))
    policy = _policy()
    inp = policy.inputs(CampaignState(space, (Objective("y"),), obs, pend, budget_remaining=5, now=now))
    assert inp.time_to_next == pytest.approx(0.25) and len(inp.pool) == POOL
    assert policy.inputs(CampaignState(space, (Objective("y"),), obs, pend)).time_to_next == 0.0  # no clock


def test_a_policy_trained_on_other_features_is_refused_with_a_clear_message() -> None:
    with pytest.raises(PolicyArgumentError, match="retrain"):
        RLPolicy.from_bundle(_bundle({**CONFIG, "features": "gp-iso-1"}))
    with pytest.raises(PolicyArgumentError, match="older release"):
        RLPolicy.from_bundle(_bundle({k: v for k, v in CONFIG.items() if k != "features"}))


def test_bad_options_are_refused() -> None:
    with pytest.raises(PolicyArgumentError, match="mode"):
        RLPolicy.from_bundle(_bundle(), mode="bad")
    with pytest.raises(PolicyArgumentError, match="pool_size"):
        RLPolicy.from_bundle(_bundle(), pool_size=0)


def test_registry_uses_the_shipped_policy_unless_given_a_policy_file(tmp_path, monkeypatch, make_state) -> None:
    from policies.rl.shipped import shipped_bundle

    monkeypatch.delenv(ENV_POLICY_FILE, raising=False)
    assert make_policy("rl").version == shipped_bundle().version
    with pytest.raises(PolicyArgumentError):
        make_policy("rl", checkpoint=str(tmp_path / "missing.labrl"))
    bundle = _bundle()
    path = tmp_path / "policy.labrl"
    bundle.save(path)
    policy = make_policy("rl", checkpoint=str(path), pool_size=POOL)
    assert isinstance(policy, RLPolicy) and policy.version == bundle.version
    state = make_state(_space(), 6, score=_score)
    direct = RLPolicy.from_bundle(bundle, pool_size=POOL).propose(state, 2)
    assert [p.params for p in policy.propose(state, 2)] == [p.params for p in direct]
    monkeypatch.setenv(ENV_POLICY_FILE, str(path))
    assert make_policy("rl", pool_size=POOL).version == bundle.version
    cands = [{"x": i / 9, "y": 0.0, "n": 1} for i in range(10)]
    on_set = make_policy("rl", candidates=cands, pool_size=POOL)
    picked = on_set.propose(state, 2)
    assert {point_key(state.space.encode(p.params)) for p in picked} <= {point_key(state.space.encode(c)) for c in cands}
