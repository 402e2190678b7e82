"""Outcome constraints in qLogNEI and gp-iso-lcb (and policies that ignore them still propose), and
qLogNEHVI over two objectives: valid picks, feasibility, and a hypervolume that beats random picks
on a fixed seed."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch

from lab.search_space import ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, OutcomeConstraint, PendingExperiment
from policies import PolicyArgumentError, make_policy
from policies.protocol import check_proposals
from policies.scored import FEASIBLE_THRESHOLD, _select

LINE = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
PLANE = SearchSpace((ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)))
TWO = (Objective("target_fraction", "maximize"), Objective("impurity_fraction", "minimize"))
FAST = {"pool_size": 128, "mc_samples": 32}


def two_objectives(p: dict[str, Any]) -> dict[str, float]:
    """A conflicting pair: the target peaks at (0.8, 0.2), the impurity is least at (0.2, 0.8)."""
    a, b = p["a"], p["b"]
    return {"target_fraction": math.exp(-((a - 0.8) ** 2 + (b - 0.2) ** 2) / 0.1),
            "impurity_fraction": (a - 0.2) ** 2 + (b - 0.8) ** 2}


def hypervolume(points: list[dict[str, float]]) -> float:
    """Area dominated by (target up, impurity down) points above the reference (target 0, impurity 1)."""
    front = sorted(((p["target_fraction"], min(p["impurity_fraction"], 1.0)) for p in points), reverse=True)
    area, best_impurity = 0.0, 1.0
    for i, (target, impurity) in enumerate(front):  # slabs between successive targets, best impurity so far
        best_impurity = min(best_impurity, impurity)
        below = front[i + 1][0] if i + 1 < len(front) else 0.0
        area += (target - below) * (1.0 - best_impurity)
    return area


def test_hypervolume_helper_on_a_known_front() -> None:
    pts = [{"target_fraction": 1.0, "impurity_fraction": 0.5}, {"target_fraction": 0.5, "impurity_fraction": 0.0}]
    assert hypervolume(pts) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_qlognei_honours_an_outcome_constraint() -> None:
    # the reward grows with x, but so does the impurity, bounded by 0.5: the best feasible x is 0.5
    obs = tuple(Observation({"x": x}, {"target_fraction": x, "impurity_fraction": x}, x) for x in (0.05, 0.2, 0.35, 0.6, 0.8, 0.95))
    free = CampaignState(LINE, (Objective("target_fraction"),), obs, seed=1)
    bounded = CampaignState(LINE, (Objective("target_fraction"),), obs, seed=1,
                            constraints=(OutcomeConstraint("impurity_fraction", None, 0.5),))
    policy = make_policy("qlognei", **FAST)
    unconstrained = policy.propose(free, 2)
    constrained = policy.propose(bounded, 2)
    assert all(p.fallback is None for p in unconstrained + constrained)
    assert all(p.params["x"] > 0.8 for p in unconstrained)
    assert all(0.35 < p.params["x"] <= 0.55 for p in constrained), [p.params for p in constrained]
    assert constrained[0].detail["constraints_modelled"] == 1 and unconstrained[0].detail["constraints_modelled"] == 0
    assert bounded.best() is not None and bounded.best().params == {"x": 0.35}  # best so far: feasible ones only


def test_qlognehvi_beats_random_picks_on_hypervolume() -> None:
    rng = random.Random(11)
    start = [{"a": rng.random(), "b": rng.random()} for _ in range(4)]
    runs: dict[str, list[dict[str, Any]]] = {}
    for name, options in (("qlognehvi", FAST), ("random", {})):
        policy = make_policy(name, **options)
        seen = list(start)
        for decision in range(4):
            state = CampaignState(PLANE, TWO, tuple(Observation(p, two_objectives(p)) for p in seen),
                                  decision_index=decision, seed=5)
            proposals = policy.propose(state, 2)
            check_proposals(state, 2, proposals)
            assert len(proposals) == 2 and all(p.fallback is None for p in proposals)
            seen += [dict(p.params) for p in proposals]
        runs[name] = seen
    ours, theirs = (hypervolume([two_objectives(p) for p in runs[n]]) for n in ("qlognehvi", "random"))
    print(f"hypervolume: qlognehvi {ours:.3f}, random {theirs:.3f}")
    assert ours > theirs + 0.02, (ours, theirs)


def test_qlognehvi_proposals_carry_the_reference_point_and_avoid_pending_points() -> None:
    rng = random.Random(3)
    pts = [{"a": rng.random(), "b": rng.random()} for _ in range(5)]
    obs = tuple(Observation(p, two_objectives(p)) for p in pts)
    pending = (PendingExperiment({"a": 0.5, "b": 0.5}),)
    state = CampaignState(PLANE, TWO, obs, pending, seed=2)
    proposals = make_policy("qlognehvi", ref_point=[0.0, 1.5], **FAST).propose(state, 2)
    check_proposals(state, 2, proposals)
    assert [p.detail["pick"] for p in proposals] == [0, 1]
    assert proposals[0].detail["ref_point"] == [0.0, 1.5] and proposals[0].detail["n_pending"] == 1
    assert proposals[0].policy_version == "1+mc_samples=32,pool_size=128,ref_point=[0.0, 1.5]"
    default = make_policy("qlognehvi", **FAST).propose(state, 1)[0].detail["ref_point"]
    targets = [two_objectives(p)["target_fraction"] for p in pts]
    impurities = [two_objectives(p)["impurity_fraction"] for p in pts]
    assert default[0] == pytest.approx(min(targets) - 0.1 * (max(targets) - min(targets)))
    assert default[1] == pytest.approx(max(impurities) + 0.1 * (max(impurities) - min(impurities)))


def test_qlognehvi_scores_a_subsample_of_a_large_candidate_set() -> None:
    rng = random.Random(4)
    grid = [{"a": i / 59, "b": j / 59} for i in range(60) for j in range(60)]  # 3600 candidates
    seen = rng.sample(grid, 5)
    state = CampaignState(PLANE, TWO, tuple(Observation(p, two_objectives(p)) for p in seen), seed=8)
    proposals = make_policy("qlognehvi", candidates=grid, **FAST).propose(state, 2)
    assert len(proposals) == 2 and all(p.params in grid and p.params not in seen for p in proposals)
    assert proposals[0].detail["pool_size"] == 128


def test_qlognehvi_falls_back_with_one_objective_and_refuses_a_bad_reference_point() -> None:
    obs = tuple(Observation({"x": x}, {"target_fraction": x}) for x in (0.1, 0.5, 0.9))
    (p,) = make_policy("qlognehvi").propose(CampaignState(LINE, (Objective("target_fraction"),), obs), 1)
    assert p.fallback is not None and "two or more objectives" in p.fallback.reason
    with pytest.raises(PolicyArgumentError, match="ref_point must be a list of finite numbers"):
        make_policy("qlognehvi", ref_point="low")
    with pytest.raises(PolicyArgumentError, match="ref_point must be a list of finite numbers"):
        make_policy("qlognehvi", ref_point=[0.0, math.nan])


IMPURITY_AT_MOST = (OutcomeConstraint("impurity_fraction", None, 0.3),)  # a disc around (0.2, 0.8)


def lcb_run(constraints: tuple[OutcomeConstraint, ...]) -> list[dict[str, Any]]:
    """Five decisions of two gp-iso-lcb picks on :func:`two_objectives`' target, from four random points."""
    rng = random.Random(3)
    seen = [{"a": rng.random(), "b": rng.random()} for _ in range(4)]
    policy = make_policy("gp-iso-lcb", pool_size=128)
    picks: list[dict[str, Any]] = []
    for decision in range(5):
        state = CampaignState(PLANE, (Objective("target_fraction"),), tuple(Observation(p, two_objectives(p)) for p in seen),
                              decision_index=decision, seed=5, constraints=constraints)
        proposals = policy.propose(state, 2)
        check_proposals(state, 2, proposals)
        assert len(proposals) == 2 and all(p.fallback is None and "constraints" not in p.detail for p in proposals)
        assert all(p.detail["constraints_modelled"] == len(constraints) for p in proposals)
        picks += [dict(p.params) for p in proposals]
        seen += picks[-2:]
    return picks


def test_gp_iso_lcb_proposes_feasible_points_under_an_outcome_constraint() -> None:
    # the target peaks at (0.8, 0.2), where the impurity is 0.72: the unconstrained optimum is infeasible
    feasible = {name: sum(two_objectives(p)["impurity_fraction"] <= 0.3 for p in lcb_run(c))
                for name, c in (("free", ()), ("bounded", IMPURITY_AT_MOST))}
    print(f"feasible picks of 10: {feasible}")
    assert feasible["bounded"] >= feasible["free"] + 4, feasible


def test_gp_iso_lcb_picks_the_most_likely_feasible_when_none_is_likely() -> None:
    rng = random.Random(6)
    grid = [{"a": i / 19, "b": j / 19} for i in range(20) for j in range(20)]
    seen = rng.sample(grid, 6)
    pending = (PendingExperiment({"a": 4 / 19, "b": 15 / 19}),)  # nearest the least impurity: still never proposed
    impossible = (OutcomeConstraint("impurity_fraction", None, -0.2),)  # every impurity is >= 0
    state = CampaignState(PLANE, (Objective("target_fraction"),), tuple(Observation(p, two_objectives(p)) for p in seen),
                          pending, seed=4, constraints=impossible)
    proposals = make_policy("gp-iso-lcb", candidates=grid).propose(state, 2)
    check_proposals(state, 2, proposals)
    assert len(proposals) == 2 and all(p.fallback is None for p in proposals)
    for p in proposals:
        assert p.detail["constraints"] == "no candidate likely feasible; most likely feasible chosen"
        assert p.detail["p_feasible"] < 0.5 and p.params not in seen
        assert two_objectives(p.params)["impurity_fraction"] < 0.15, p.params  # near (0.2, 0.8), not the target's peak
    assert proposals[0].detail["p_feasible"] >= proposals[1].detail["p_feasible"]


def test_likely_feasible_candidates_compete_on_score_and_the_rest_fill_by_probability() -> None:
    values = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    p_feasible = torch.tensor([0.9, 0.1, 0.2, FEASIBLE_THRESHOLD], dtype=torch.float64)
    assert _select(values, p_feasible, 3, seed=0) == ([0, 3, 2], 2)
    assert _select(values, None, 2, seed=0) == ([0, 1], 4)


@pytest.mark.parametrize("name", ["rf-ei", "rl"])
def test_policies_that_ignore_outcome_constraints_still_propose(name: str) -> None:
    rng = random.Random(2)
    seen = [{"a": rng.random(), "b": rng.random()} for _ in range(5)]
    state = CampaignState(PLANE, (Objective("target_fraction"),), tuple(Observation(p, two_objectives(p)) for p in seen),
                          seed=3, constraints=IMPURITY_AT_MOST)
    proposals = make_policy(name, pool_size=64).propose(state, 2)
    check_proposals(state, 2, proposals)
    assert len(proposals) == 2
