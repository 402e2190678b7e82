"""The learned policy in a campaign: :class:`RLPolicy` (registry name ``"rl"``).

One decision of ``k`` experiments:

1. :func:`policies.features.training_data` gives the observed points (targets larger-is-better)
   and the pending ones; candidates are the untried rows of a fixed candidate set, else a Sobol
   pool of ``pool_size`` feasible points.
2. **Guardrail.** If the campaign looks unlike the training tasks (encoded dimension outside the
   trained range, or the GP lengthscale or noise picked for it outside the range seen in training),
   the decision is made by qLogNEI instead and each proposal says so
   (``detail["fallback"] = "qlognei"`` and the reason). With fewer than 2 usable observations,
   Sobol points are proposed (``detail["fallback"] = "sobol"``), as training campaigns start from
   2 random experiments.
3. Otherwise picks are drawn one at a time from the network's distribution (``mode="sample"``) or
   taken greedily (``mode="greedy"``); after each pick the features are recomputed with that pick
   pending, so a batch spreads out. Each proposal carries its log-probability given the earlier
   picks; the decision's log-probability is their sum.

Weights come from a policy file written by ``lab train`` (``checkpoint=`` or ``$LAB_RL_POLICY``)
or, in a campaign run by the engine, from the store (the flows layer loads the version and calls
:meth:`RLPolicy.from_bundle`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lab.errors import SearchSpaceError
from lab.experiment import Proposal
from lab.state import CampaignState
from policies.candidates import DEFAULT_POOL_SIZE, CandidatePool, CandidateSet, candidate_pool
from policies.discrete import as_candidate_set, fallback_proposals
from policies.errors import PolicyArgumentError
from policies.features import TrainingData, training_data
from policies.protocol import batch_size, check_proposals, derive_seed, point_key, require_int
from policies.rl.checkpoint import PolicyBundle
from policies.rl.network import log_prob_of, sample_without_replacement
from policies.rl.posterior import PosteriorInput, featurize

__all__ = ["DecisionInputs", "ENV_POLICY_FILE", "MODES", "PickInput", "RLPolicy", "pick_log_probs"]

ENV_POLICY_FILE = "LAB_RL_POLICY"
MODES = ("sample", "greedy")
MIN_OBSERVED = 2


@dataclass(frozen=True)
class PickInput:
    """One pick as the network saw it: candidate features ``(K, 8)``, globals ``(8,)``, mask ``(K,)``, index."""

    cand: Tensor
    glob: Tensor
    mask: Tensor
    index: int


def pick_log_probs(net: torch.nn.Module, picks: Sequence[PickInput]) -> Tensor:
    """Log-probability of each pick under ``net`` (differentiable), shape ``(len(picks),)``."""
    out = []
    for p in picks:
        logits, _ = net(p.cand[None], p.glob[None], p.mask[None])
        out.append(log_prob_of(logits, p.mask[None], torch.tensor([[p.index]]))[0])
    return torch.stack(out)


@dataclass(frozen=True)
class DecisionInputs:
    """What the network saw for one decision: training data, candidate pool, budget and timing."""

    data: TrainingData
    pool: CandidatePool
    budget_used: float
    time_to_next: float


def _time_to_next(state: CampaignState) -> float:
    """Hours to the next expected result over hours to the last one, in ``[0, 1]`` (0 if unknown)."""
    if state.now is None:
        return 0.0
    waits = [(p.expected_completion - state.now).total_seconds() for p in state.pending if p.expected_completion]
    waits = [max(w, 0.0) for w in waits]
    return 0.0 if not waits or max(waits) <= 0 else min(waits) / max(waits)


class RLPolicy:
    """Neural acquisition policy (see module docstring).

    Args:
        checkpoint: policy file from ``lab train``; empty: ``$LAB_RL_POLICY``.
        mode: ``"sample"`` (stochastic, logged log-probabilities usable for off-policy updates) or ``"greedy"``.
        pool_size: Sobol candidates per decision when no candidate set is given.
        guardrail: fall back to qLogNEI on campaigns unlike the training tasks.
    """

    name = "rl"

    def __init__(self, *, checkpoint: str = "", mode: str = "sample", pool_size: int = DEFAULT_POOL_SIZE,
                 guardrail: bool = True) -> None:
        path = checkpoint or os.environ.get(ENV_POLICY_FILE, "")
        if not path:
            raise PolicyArgumentError("policy 'rl' needs trained weights: pass checkpoint=<file from `lab train`> "
                                      f"or set ${ENV_POLICY_FILE}; in a campaign the engine loads them from the store")
        self._init(PolicyBundle.load(Path(path)), mode, pool_size, guardrail)

    @classmethod
    def from_bundle(cls, bundle: PolicyBundle, *, mode: str = "sample", pool_size: int = DEFAULT_POOL_SIZE,
                    guardrail: bool = True) -> RLPolicy:
        """The policy for weights already in memory (e.g. loaded from the store)."""
        self = cls.__new__(cls)
        self._init(bundle, mode, pool_size, guardrail)
        return self

    def _init(self, bundle: PolicyBundle, mode: str, pool_size: int, guardrail: bool) -> None:
        if mode not in MODES:
            raise PolicyArgumentError(f"option mode must be one of {MODES}, got {mode!r}")
        self.bundle, self.mode, self.guardrail = bundle, mode, bool(guardrail)
        self.pool_size = require_int("pool_size", pool_size, 1)
        self.net = bundle.net()
        self.version = bundle.version
        self.candidates: CandidateSet | None = None
        self.horizon = int(bundle.config.get("horizon", 50))

    def with_candidates(self, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> RLPolicy:
        """A copy that picks only among ``candidates``."""
        out = copy.copy(self)
        out.candidates = as_candidate_set(candidates)
        return out

    # -- the decision ---------------------------------------------------------------------------

    def inputs(self, state: CampaignState) -> DecisionInputs:
        """Training data, candidate pool (deterministic in the state and seed), budget used, timing."""
        data = training_data(state)
        seed = derive_seed(state.seed, state.decision_index, salt="rl-pool")
        pool = (self.candidates.untried(state) if self.candidates is not None
                else candidate_pool(state, size=self.pool_size, seed=seed))
        used = data.n + int(data.X_pending.shape[0])
        total = used + state.budget_remaining if state.budget_remaining is not None else max(self.horizon, used)
        return DecisionInputs(data, pool, min(1.0, used / max(total, 1)), _time_to_next(state))

    def logits(self, inp: DecisionInputs, extra_pending: Sequence[int] = ()) -> tuple[Tensor, Tensor, Any]:
        """Logits ``(K,)``, allowed mask ``(K,)`` and features with pool rows ``extra_pending`` pending too."""
        X, C = inp.data.X, inp.pool.X
        pend = torch.cat([inp.data.X_pending.reshape(-1, X.shape[1]), C[list(extra_pending)]], 0)
        mask = torch.ones(C.shape[0], dtype=torch.bool)
        mask[list(extra_pending)] = False
        batch = PosteriorInput(X[None], inp.data.Y[:, 0][None], torch.ones(1, X.shape[0], dtype=torch.bool), pend[None],
                               torch.ones(1, pend.shape[0], dtype=torch.bool), C[None], mask[None])
        feats = featurize(batch, torch.tensor([inp.budget_used]), torch.tensor([inp.time_to_next]))
        with torch.no_grad():
            logits, _ = self.net(feats.candidates.float(), feats.globals.float(), mask[None])
        return logits[0], mask, feats

    def out_of_range(self, dim: int, lengthscale: float, noise: float) -> str | None:
        """Why a campaign is unlike the training tasks, or ``None``."""
        rng = self.bundle.config.get("trained_range", {})
        checks = (("encoded dimension", dim, rng.get("dims")), ("GP lengthscale (x sqrt(dim))", lengthscale,
                  rng.get("lengthscale")), ("GP noise variance", noise, rng.get("noise")))
        for what, value, bounds in checks:
            if bounds and not (bounds[0] - 1e-9 <= value <= bounds[1] + 1e-9):
                return f"{what} {value:.3g} is outside the trained range [{bounds[0]:.3g}, {bounds[1]:.3g}]"
        return None

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` proposals (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        if k == 0:
            return []
        inp = self.inputs(state)
        common: dict[str, Any] = {"target": inp.data.target, "n_train": inp.data.n,
                                  "n_pending": int(inp.data.X_pending.shape[0])}
        if inp.data.n < MIN_OBSERVED:
            return fallback_proposals(self, state, k, f"too few observations ({inp.data.n} usable, need {MIN_OBSERVED})",
                                      common, self.candidates)
        if len(inp.pool) == 0:
            return []
        k = min(k, len(inp.pool))
        gen = torch.Generator().manual_seed(derive_seed(state.seed, state.decision_index, salt="rl") % 2**63)
        picks: list[int] = []
        logps: list[float] = []
        for j in range(k):
            logits, mask, feats = self.logits(inp, picks)
            if j == 0 and self.guardrail:
                reason = self.out_of_range(state.space.dim, float(feats.lengthscale[0]), float(feats.noise[0]))
                if reason is not None:
                    return self._qlognei(state, n, reason, common)
            idx, logp = sample_without_replacement(logits[None], mask[None], 1, gen, greedy=self.mode == "greedy")
            picks.append(int(idx[0, 0]))
            logps.append(float(logp[0]))
        out = [Proposal(inp.pool.params[i], self.name, self.version, lp,
                        {**common, "pick": r, "pool_size": len(inp.pool), "mode": self.mode})
               for r, (i, lp) in enumerate(zip(picks, logps))]
        check_proposals(state, n, out)
        return out

    def pick_inputs(self, state: CampaignState, params: Sequence[Mapping[str, Any]]) -> list[PickInput] | None:
        """The network inputs of each ordered pick ``params`` in ``state`` (features do not depend on
        the weights, so off-policy updates compute them once), or ``None`` if a pick is not in the pool."""
        inp = self.inputs(state)
        index = {point_key(row): i for i, row in enumerate(inp.pool.X.tolist())}
        try:
            picks = [index[point_key(state.space.encode(p))] for p in params]
        except (KeyError, SearchSpaceError):
            return None
        out = []
        for j, i in enumerate(picks):
            _, mask, feats = self.logits(inp, picks[:j])
            out.append(PickInput(feats.candidates[0].float(), feats.globals[0].float(), mask, i))
        return out

    def _qlognei(self, state: CampaignState, n: int, reason: str, common: dict[str, Any]) -> list[Proposal]:
        from policies.gp import QLogNEIPolicy

        base = QLogNEIPolicy()
        inner = base.with_candidates(self.candidates) if self.candidates is not None else base
        return [Proposal(p.params, self.name, self.version, 0.0,
                         {**common, **p.detail, "fallback": "qlognei", "reason": f"guardrail: {reason}"})
                for p in inner.propose(state, n)]

    def __repr__(self) -> str:
        return f"RLPolicy(version={self.version!r}, mode={self.mode!r}, pool_size={self.pool_size})"
