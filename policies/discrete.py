"""Policies over a fixed candidate set (a finite pool of real experiments).

:func:`policies.registry.make_policy` takes ``candidates=[params, ...]`` for **every** policy:

* policies that score candidates natively (``qlognei``, ``rf-ei``, ``gp-iso-lcb``) score exactly the
  untried candidates (:meth:`policies.candidates.CandidateSet.untried`);
* ``random`` becomes :class:`CandidateRandomPolicy`: uniform over the untried candidates, so its
  expected Top% after ``i`` picks is exactly ``i / N``;
* any other policy is wrapped in :class:`SnapToCandidates`: each of its proposals is replaced by the
  nearest untried candidate (Euclidean distance in the unit-cube encoding), e.g. ``sobol`` becomes
  "the nearest unused pool point to the next Sobol point".

Example:
    >>> from lab.search_space import SearchSpace, ContinuousParameter
    >>> from lab.state import CampaignState, Objective
    >>> from policies.sobol import SobolPolicy
    >>> space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    >>> pool = [{"x": 0.0}, {"x": 0.5}, {"x": 1.0}]
    >>> [p.params["x"] in (0.0, 0.5, 1.0) for p in SnapToCandidates(SobolPolicy(), pool).propose(
    ...     CampaignState(space, (Objective("y"),)), 2)]
    [True, True]
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lab.experiment import Fallback, Proposal
from lab.state import CampaignState
from policies.candidates import CandidatePool, CandidateSet
from policies.protocol import Policy, batch_size, check_proposals, derive_seed
from policies.sobol import sobol_params

__all__ = ["CandidateRandomPolicy", "SnapToCandidates", "as_candidate_set", "snap_to_pool"]


def as_candidate_set(candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> CandidateSet:
    """``candidates`` as a :class:`CandidateSet` (a sequence of parameter dicts is wrapped)."""
    return candidates if isinstance(candidates, CandidateSet) else CandidateSet(list(candidates))


def snap_to_pool(state: CampaignState, pool: CandidatePool,
                 points: Sequence[Mapping[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """Replace each point by the nearest candidate of ``pool`` not yet chosen.

    Args:
        state: the campaign (for its space).
        pool: untried candidates, ``X`` of shape ``(M, dim)``.
        points: parameter dicts valid in the space (at most ``M`` are snapped).

    Returns:
        ``[(candidate params, distance in the unit cube), ...]``, one per snapped point.
    """
    free = torch.ones(len(pool), dtype=torch.bool)
    out: list[tuple[dict[str, Any], float]] = []
    for p in points:
        if not bool(free.any()):
            break
        x = torch.tensor(state.space.encode(p), dtype=torch.float64)
        d = torch.linalg.vector_norm(pool.X - x, dim=-1).masked_fill(~free, math.inf)
        j = int(torch.argmin(d))
        free[j] = False
        out.append((pool.params[j], float(d[j])))
    return out


def fallback_proposals(policy: Policy, state: CampaignState, k: int, reason: str, common: Mapping[str, Any],
                       candidates: CandidateSet | None) -> list[Proposal]:
    """``k`` Sobol proposals (snapped to untried candidates when there are any) when a model cannot propose.

    Each proposal's ``fallback`` names ``sobol`` with the ``reason``; its detail gives the sequence position.
    """
    if candidates is not None:
        params = [p for p, _ in sobol_fallback(state, candidates.untried(state), k)]
        start = len(state.observations) + len(state.pending)
    else:
        params, start = sobol_params(state, k)
    detail = {**common, "sequence_start": start}
    out = [Proposal(p, policy.name, policy.version, 0.0, dict(detail), Fallback("sobol", reason)) for p in params]
    check_proposals(state, k, out)
    return out


def sobol_fallback(state: CampaignState, pool: CandidatePool, k: int) -> list[tuple[dict[str, Any], float]]:
    """The next ``k`` points of the campaign's Sobol sequence, each snapped to an untried candidate."""
    params, _ = sobol_params(state, min(k, len(pool)))
    return snap_to_pool(state, pool, params)


class CandidateRandomPolicy:
    """Uniform random picks among the untried candidates (without replacement).

    ``log_prob`` of the ``j``-th pick of a batch (0-based) is ``-log(M - j)`` with ``M`` untried
    candidates, exact and conditional on the earlier picks.

    Attributes:
        name: ``"random"``.
        version: ``"1"``.
    """

    name = "random"

    def __init__(self, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> None:
        self.version = "1"
        self.candidates = as_candidate_set(candidates)

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining, untried)`` uniform picks (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        pool = self.candidates.untried(state)
        rng = random.Random(derive_seed(state.seed, state.decision_index, salt="random-candidates"))
        picks = rng.sample(range(len(pool)), min(k, len(pool)))
        out = [Proposal(pool.params[i], self.name, self.version, -math.log(len(pool) - j),
                        {"sampler": "uniform-candidates", "n_untried": len(pool)}) for j, i in enumerate(picks)]
        check_proposals(state, n, out)
        return out

    def __repr__(self) -> str:
        return f"CandidateRandomPolicy({len(self.candidates)} candidates)"


class SnapToCandidates:
    """Any policy, restricted to a candidate set by snapping its picks to the nearest untried candidate.

    Name and version are the inner policy's (it made the decision); ``detail["snapped_distance"]``
    is the unit-cube distance from the inner proposal to the candidate run instead, and ``log_prob``
    is the inner policy's (the snap is a deterministic map, so for a stochastic inner policy it is
    the log-density of the unsnapped point).
    """

    def __init__(self, inner: Policy, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.candidates = as_candidate_set(candidates)

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """The inner policy's proposals, each replaced by the nearest untried candidate."""
        k = batch_size(state, n)
        pool = self.candidates.untried(state)
        if k == 0 or len(pool) == 0:
            return []
        inner = self.inner.propose(state, min(k, len(pool)))
        snapped = snap_to_pool(state, pool, [p.params for p in inner])
        out = [Proposal(params, p.policy, p.policy_version, p.log_prob,
                        {**dict(p.detail), "snapped_distance": round(dist, 9)})
               for p, (params, dist) in zip(inner, snapped)]
        check_proposals(state, n, out)
        return out

    def __repr__(self) -> str:
        return f"SnapToCandidates({self.inner!r}, {len(self.candidates)} candidates)"
