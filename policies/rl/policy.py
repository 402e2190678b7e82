"""The learned policy in a campaign: :class:`RLPolicy` (registry name ``"rl"``).

One decision of ``k`` experiments:

1. :func:`policies.features.training_data` gives the observed points (targets larger-is-better)
   and the pending ones; candidates are the untried rows of a fixed candidate set, else a Sobol
   pool of ``pool_size`` feasible points.
2. :func:`policies.rl.evidence.featurize` fits the two surrogates (ARD GP, extra-trees) and builds
   the network's inputs, exactly as in training.
3. **Guardrail.** If the campaign looks unlike the training tasks (encoded dimension, GP mean
   lengthscale or noise outside the range seen in training), the decision goes to the baseline
   whose surrogate fits this campaign better on held-out points (GP leave-one-out against the
   trees' out-of-bag log density): ``qlognei`` or ``rf-ei``; each proposal says so
   (:class:`~lab.experiment.Fallback` on each proposal). With fewer than 2 usable observations, Sobol
   points are proposed (``fallback.policy == "sobol"``), as training campaigns start from 2
   random experiments.
4. Otherwise picks are drawn one at a time from the network's distribution (``mode="sample"``) or
   taken greedily (``mode="greedy"``); after each pick the features are recomputed with that pick
   pending, so a batch spreads out. Each proposal carries its log-probability given the earlier
   picks; the decision's log-probability is their sum.

Weights come from a policy file (``checkpoint=``, ``$LAB_RL_POLICY``), from the store (the flows
layer loads the version and calls :meth:`RLPolicy.from_bundle`), or, with neither, from the policy
shipped in the package (:mod:`policies.rl.shipped`).

**Outcome constraints** (``state.constraints``) are ignored by the network, which was trained
without them; a decision the guardrail hands to ``qlognei`` honours them, one handed to ``rf-ei``
does not.
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
from lab.experiment import Fallback, Proposal
from lab.state import CampaignState
from policies.candidates import (
    DEFAULT_POOL_SIZE,
    CandidatePool,
    CandidateSet,
    candidate_pool,
)
from policies.discrete import as_candidate_set, fallback_proposals
from policies.errors import PolicyArgumentError
from policies.features import TrainingData, training_data
from policies.protocol import (
    batch_size,
    check_proposals,
    derive_seed,
    point_key,
    require_int,
)
from policies.rl.checkpoint import PolicyBundle
from policies.rl.evidence import (
    FEATURE_SET,
    TEACHERS,
    EvidenceInput,
    Features,
    FitSettings,
    featurize,
)
from policies.rl.network import log_prob_of, sample_without_replacement
from policies.rl.shipped import shipped_bundle

__all__ = ["DecisionInputs", "ENV_POLICY_FILE", "MODES", "PickInput", "RLPolicy", "pick_log_probs"]

ENV_POLICY_FILE = "LAB_RL_POLICY"
MODES = ("sample", "greedy", *(f"follow-{name}" for name in TEACHERS))
MIN_OBSERVED = 2


@dataclass(frozen=True)
class PickInput:
    """One pick as the network saw it: candidate features ``(K, F)``, globals ``(G,)``, mask ``(K,)``, index."""

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
    """What the network saw for one decision: training data, candidate pool and timing."""

    data: TrainingData
    pool: CandidatePool
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
        mode: ``"sample"`` (stochastic, logged log-probabilities usable for off-policy updates), ``"greedy"``,
            or ``"follow-<teacher>"`` (that classic acquisition alone on the same evidence, log-probability 0;
            for ablations: ``gp-logei``, ``trees-ei``, ``gp-ucb``).
        pool_size: Sobol candidates per decision when no candidate set is given.
        guardrail: fall back to qLogNEI on campaigns unlike the training tasks.
    """

    name = "rl"

    def __init__(self, *, checkpoint: str = "", mode: str = "sample", pool_size: int = DEFAULT_POOL_SIZE,
                 guardrail: bool = True) -> None:
        path = checkpoint or os.environ.get(ENV_POLICY_FILE, "")
        self._init(PolicyBundle.load(Path(path)) if path else shipped_bundle(), mode, pool_size, guardrail)

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
        if bundle.config.get("features") != FEATURE_SET:
            raise PolicyArgumentError(f"RL policy {bundle.version} was trained on features "
                                      f"{bundle.config.get('features', 'of an older release')!r}, this release computes "
                                      f"{FEATURE_SET!r}; retrain it with `lab train` or use the shipped policy")
        self.bundle, self.mode, self.guardrail = bundle, mode, bool(guardrail)
        fit = bundle.config.get("fit", {})
        self.fit = FitSettings(gp_steps=int(fit.get("gp_steps", 60)), trees=int(fit.get("trees", 32)))
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
        return DecisionInputs(data, pool, _time_to_next(state))

    def logits(self, inp: DecisionInputs, extra_pending: Sequence[int] = (), seed: int = 0
               ) -> tuple[Tensor, Tensor, Features]:
        """Logits ``(K,)``, allowed mask ``(K,)`` and features with pool rows ``extra_pending`` pending too."""
        X, C = inp.data.X, inp.pool.X
        pend = torch.cat([inp.data.X_pending.reshape(-1, X.shape[1]), C[list(extra_pending)]], 0)
        mask = torch.ones(C.shape[0], dtype=torch.bool)
        mask[list(extra_pending)] = False
        batch = EvidenceInput(X[None], inp.data.Y[:, 0][None], torch.ones(1, X.shape[0], dtype=torch.bool), pend[None],
                              torch.ones(1, pend.shape[0], dtype=torch.bool), C[None], mask[None],
                              time_to_next=torch.tensor([inp.time_to_next], dtype=X.dtype))
        feats = featurize(batch, settings=self.fit, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            logits, _ = self.net(feats.candidates.float(), feats.globals.float(), mask[None])
        return logits[0], mask, feats

    def out_of_range(self, dim: int, feats: Features) -> str | None:
        """Why a campaign is unlike the training tasks, or ``None``."""
        rng = self.bundle.config.get("trained_range", {})
        lengthscale = float(feats.gp_lengthscale[0, :dim].log().mean().exp()) / dim ** 0.5
        noise = float(feats.gp_noise[0])
        checks = (("encoded dimension", dim, rng.get("dims")), ("GP mean lengthscale (x sqrt(dim))", lengthscale,
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
        seed = derive_seed(state.seed, state.decision_index, salt="rl") % 2**63
        gen = torch.Generator().manual_seed(seed)
        picks: list[int] = []
        logps: list[float] = []
        for j in range(k):
            logits, mask, feats = self.logits(inp, picks, seed)
            if j == 0 and self.guardrail:
                reason = self.out_of_range(state.space.dim, feats)
                if reason is not None:
                    gp_better = float(feats.gp_loo[0]) >= float(feats.tr_oob[0])
                    return self._baseline(state, n, "qlognei" if gp_better else "rf-ei",
                                          f"{reason}; GP held-out log density {float(feats.gp_loo[0]):.2f} vs trees "
                                          f"{float(feats.tr_oob[0]):.2f}", common)
            if self.mode.startswith("follow-"):  # one teacher alone, on the same evidence (for ablations)
                idx = feats.teachers[:, TEACHERS.index(self.mode.removeprefix("follow-"))][:, None]
                logp = torch.zeros(1)
            else:
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
        seed = derive_seed(state.seed, state.decision_index, salt="rl") % 2**63
        for j, i in enumerate(picks):
            _, mask, feats = self.logits(inp, picks[:j], seed)
            out.append(PickInput(feats.candidates[0].float(), feats.globals[0].float(), mask, i))
        return out

    def _baseline(self, state: CampaignState, n: int, name: str, reason: str, common: dict[str, Any]) -> list[Proposal]:
        from policies.registry import make_policy

        inner = make_policy(name) if self.candidates is None else make_policy(name, candidates=self.candidates)
        return [Proposal(p.params, self.name, self.version, 0.0, {**common, **p.detail},
                         Fallback(name if p.fallback is None else p.fallback.policy, f"guardrail: {reason}"
                                  + ("" if p.fallback is None else f"; {name} fell back: {p.fallback.reason}")))
                for p in inner.propose(state, n)]

    def __repr__(self) -> str:
        return f"RLPolicy(version={self.version!r}, mode={self.mode!r}, pool_size={self.pool_size})"
