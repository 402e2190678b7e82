"""Shared decision loop of the one-score-per-candidate policies (``rf-ei``, ``gp-iso-lcb``).

One decision:

1. :func:`policies.features.training_data` gives ``X`` ``(n, dim)``, ``Y`` ``(n, 1)`` (larger is
   better; a ``minimize`` objective is negated) and the pending experiments.
2. The candidates are the untried rows of the fixed candidate set when one is given
   (``make_policy(name, candidates=...)``), else a fresh Sobol pool of ``pool_size`` feasible points
   (:func:`policies.candidates.candidate_pool`).
3. The subclass scores every candidate (:meth:`ScoredPoolPolicy.scores`, shape ``(M,)``) and the
   ``k`` best distinct ones are proposed (equal scores in a seeded random order, so that a flat
   acquisition does not sweep the pool in file order). Batches are the top-``k`` scores: pending experiments are
   excluded from the candidates but not modelled (no fantasies), which is exact for ``q = 1``.
4. A subclass that models outcome constraints (:meth:`ScoredPoolPolicy.feasibility`) restricts
   step 3 to the candidates whose probability of feasibility is at least
   :data:`FEASIBLE_THRESHOLD`; when fewer than ``k`` qualify, the rest of the batch are the most
   likely feasible of the others (highest probability first, ties by score), and each such pick
   says so in ``detail["constraints"]``. Every pick records ``detail["constraints_modelled"]`` and,
   when one or more constraints are modelled, ``detail["p_feasible"]``.

Fallbacks as in :mod:`policies.gp`: with fewer than ``n_init`` training points, equal targets, or
a modelling exception, the next Sobol points (snapped to untried candidates when a candidate set is
given) are proposed with ``fallback = Fallback("sobol", reason)``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lab.experiment import Proposal
from lab.state import CampaignState
from policies.candidates import CandidatePool, CandidateSet, candidate_pool
from policies.discrete import as_candidate_set, fallback_proposals
from policies.features import TrainingData, training_data
from policies.protocol import batch_size, check_proposals, derive_seed, require_int

__all__ = ["FEASIBLE_THRESHOLD", "ScoredPoolPolicy"]

_LOG = logging.getLogger(__name__)
#: Smallest probability of feasibility for a candidate to compete on its score. A threshold rather
#: than a product with the score: a confidence bound is no improvement (it may be negative), so
#: weighting it by a probability means nothing. 0.5 is where the models deem a candidate more
#: likely feasible than not; it is not tuned on benchmark results.
FEASIBLE_THRESHOLD = 0.5
_NONE_FEASIBLE = "no candidate likely feasible; most likely feasible chosen"


def _top_k(values: Tensor, k: int, seed: int) -> list[int]:
    """Indices of the ``k`` largest of ``values`` (shape ``(M,)``), ties broken in a seeded random order."""
    gen = torch.Generator().manual_seed(seed % 2**63)
    perm = torch.randperm(values.shape[0], generator=gen)
    order = torch.argsort(values[perm], descending=True, stable=True)[:k]
    return perm[order].tolist()


def _select(values: Tensor, p_feasible: Tensor | None, k: int, seed: int) -> tuple[list[int], int]:
    """The ``k`` picks (indices into ``values`` ``(M,)``) and how many candidates are likely feasible.

    Without ``p_feasible`` the picks are :func:`_top_k`. With it, the best scores among candidates with
    ``p_feasible >= FEASIBLE_THRESHOLD`` come first, then the others by probability (ties by score).
    """
    if p_feasible is None:
        return _top_k(values, k, seed), values.shape[0]
    likely = (p_feasible >= FEASIBLE_THRESHOLD).nonzero().reshape(-1)
    picks = likely[_top_k(values[likely], k, seed)].tolist()
    if len(picks) < k:
        others = (p_feasible < FEASIBLE_THRESHOLD).nonzero().reshape(-1)
        by_score = others[_top_k(values[others], others.shape[0], seed)]
        by_p = torch.argsort(p_feasible[by_score], descending=True, stable=True)
        picks += by_score[by_p][: k - len(picks)].tolist()
    return picks, int(likely.shape[0])


class ScoredPoolPolicy:
    """Base class: fit a model, score candidates, propose the best ``k``.

    Subclasses set ``name``, ``acquisition`` and implement :meth:`scores`.

    Args:
        n_init: fewest training points for a model; with fewer, Sobol points are proposed.
        pool_size: Sobol candidates per decision when no candidate set is given.
    """

    name = "scored"
    acquisition = "score"
    #: The exact decision rule, set by each subclass's ``__init__`` (see :class:`policies.protocol.Policy`).
    version: str

    def __init__(self, *, n_init: int, pool_size: int) -> None:
        self.n_init = require_int("n_init", n_init, 1)
        self.pool_size = require_int("pool_size", pool_size, 1)
        self.candidates: CandidateSet | None = None

    def with_candidates(self, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> ScoredPoolPolicy:
        """A copy of this policy that picks only among ``candidates`` (same name and version)."""
        out = copy.copy(self)
        out.candidates = as_candidate_set(candidates)
        return out

    def scores(self, data: TrainingData, X: Tensor, seed: int) -> Tensor:
        """Acquisition value of each candidate, shape ``(M,)``; larger is better.

        Args:
            data: training tensors (``X`` ``(n, dim)``, ``Y`` ``(n, 1)``).
            X: candidate encodings, shape ``(M, dim)``, float64 in ``[0, 1]``.
            seed: a seed derived for this decision.
        """
        raise NotImplementedError

    def feasibility(self, state: CampaignState, X: Tensor) -> tuple[Tensor, int] | None:
        """Probability ``(M,)`` that each candidate ``X`` ``(M, dim)`` meets the outcome constraints, and
        how many constraints are modelled; ``None`` (this default) where the policy ignores them."""
        return None

    def _pool(self, state: CampaignState, seed: int) -> CandidatePool:
        if self.candidates is not None:
            return self.candidates.untried(state)
        return candidate_pool(state, size=self.pool_size, seed=seed)

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` best-scoring candidates (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        if k == 0:
            return []
        data = training_data(state)
        common = {"target": data.target, "n_train": data.n, "n_pending": int(data.X_pending.shape[0])}
        if data.n < self.n_init:
            return self._fallback(state, k, f"too few observations ({data.n} usable, n_init={self.n_init})", common)
        if float(data.Y.max() - data.Y.min()) <= 1e-12 * max(1.0, float(data.Y.abs().max())):
            return self._fallback(state, k, "all training targets are equal; a model cannot rank candidates", common)
        seed = derive_seed(state.seed, state.decision_index, salt=self.name)
        try:
            pool = self._pool(state, seed)
            if len(pool) == 0:
                return []
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                values = self.scores(data, pool.X, seed).reshape(-1)
                feasible = self.feasibility(state, pool.X)
            best, n_likely = _select(values, None if feasible is None else feasible[0], k, seed)
        except Exception as exc:
            _LOG.warning("%s: model step failed at decision %s; falling back to Sobol", self.name,
                         state.decision_index, exc_info=True)
            return self._fallback(state, k, f"model step failed: {type(exc).__name__}: {exc}"[:500], common)
        out = [Proposal(pool.params[j], self.name, self.version, 0.0,
                        {**common, "acquisition": self.acquisition, "acq_value": float(values[j]), "pick": r,
                         "pool_size": len(pool), **_constraint_detail(feasible, j, r, n_likely)})
               for r, j in enumerate(best)]
        check_proposals(state, n, out)
        return out

    def _fallback(self, state: CampaignState, k: int, reason: str, common: dict[str, Any]) -> list[Proposal]:
        return fallback_proposals(self, state, k, reason, common, self.candidates)


def _constraint_detail(feasible: tuple[Tensor, int] | None, j: int, rank: int, n_likely: int) -> dict[str, Any]:
    """The constraint part of pick ``rank``'s detail (candidate ``j``; ``n_likely`` likely feasible)."""
    if feasible is None:
        return {}
    p, modelled = feasible
    out: dict[str, Any] = {"constraints_modelled": modelled}
    if modelled:
        out["p_feasible"] = float(p[j])
    if rank >= n_likely:
        out["constraints"] = (_NONE_FEASIBLE if n_likely == 0 else
                              f"only {n_likely} candidates likely feasible; the most likely feasible of the rest chosen")
    return out
