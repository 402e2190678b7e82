"""Several objectives at once: GPs with batch qLogNEHVI over a subsample of feasible candidates.

One decision:

1. :func:`policies.outcomes.objective_data` gives ``X`` ``(n, dim)`` and ``Y`` ``(n, m)``, one
   column per objective of the campaign, signed so that larger is better (``-value`` for
   ``minimize``); chemistry failures are left out of the models (never proposed again).
2. One GP per objective (:func:`policies.gp.fit_gp`) in a ``ModelListGP``, plus one per
   constrained quantity (:mod:`policies.outcomes`), so qLogNEHVI weights each candidate's
   hypervolume improvement by its probability of feasibility.
3. The reference point: the ``ref_point`` option (one value per objective, in the objectives' own
   units and order), else, per objective, the worst observed value minus 10% of the observed range
   (10% of ``max(|worst|, 1)`` when every value is equal): every observed point then improves on it.
4. ``qLogNoisyExpectedHypervolumeImprovement`` (pending experiments as ``X_pending``) is maximised
   by ``optimize_acqf_discrete`` with ``q = n`` (sequential greedy) over at most ``pool_size``
   candidates: a fresh Sobol pool (:func:`policies.candidates.candidate_pool`), or a seeded random
   subsample of a fixed candidate set's untried rows (5000 candidates with ``q = 2`` took 39 s;
   512 keep a decision within a few seconds).

Fallbacks as in :mod:`policies.gp`: with fewer than two objectives, fewer than ``n_init`` experiments
measuring every objective, or a modelling exception, the next Sobol points are proposed with
``Fallback("sobol", reason)``. Picks are deterministic given the state, so ``log_prob`` is 0.0;
``detail["acq_value"]`` is the log-hypervolume improvement of that pick given the pending points
and earlier picks, ``detail["ref_point"]`` the reference point in the objectives' units.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.optim import optimize_acqf_discrete
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from lab.experiment import Proposal
from lab.state import CampaignState
from policies.candidates import CandidatePool, CandidateSet, candidate_pool
from policies.discrete import as_candidate_set, fallback_proposals
from policies.errors import PolicyArgumentError
from policies.gp import KERNELS, fit_gp
from policies.outcomes import ObjectiveData, constrained_model, objective_data
from policies.protocol import batch_size, check_proposals, derive_seed, require_int, version_string

__all__ = ["QLogNEHVIPolicy", "default_ref_point"]

VERSION = "1"
_LOG = logging.getLogger(__name__)
_DEFAULTS: dict[str, Any] = {"n_init": 3, "pool_size": 512, "mc_samples": 64, "kernel": "matern52", "ref_point": None}


def default_ref_point(Y: Tensor) -> Tensor:
    """Worst value of each column of ``Y`` ``(n, m)`` (larger is better) minus 10% of its range, ``(m,)``."""
    low, high = Y.min(dim=0).values, Y.max(dim=0).values
    spread = torch.where(high - low > 0, high - low, low.abs().clamp_min(1.0))
    return low - 0.1 * spread


class QLogNEHVIPolicy:
    """GPs + qLogNEHVI over the campaign's objectives (see the module docstring).

    Args:
        n_init: fewest experiments measuring every objective for the GPs; with fewer, Sobol points.
        pool_size: most candidates scored per decision.
        mc_samples: quasi-MC samples of the acquisition function.
        kernel: ``"matern52"`` or ``"rbf"`` (see :func:`policies.gp.fit_gp`).
        ref_point: one value per objective, in the objectives' own units and order, or ``None``
            for the default (module docstring, step 3).

    Attributes:
        name: ``"qlognehvi"``.
        version: ``"1"`` plus any non-default options.

    Raises:
        PolicyArgumentError: an option has an invalid value.
    """

    name = "qlognehvi"

    def __init__(self, *, n_init: int = 3, pool_size: int = 512, mc_samples: int = 64, kernel: str = "matern52",
                 ref_point: Sequence[float] | None = None) -> None:
        self.n_init = require_int("n_init", n_init, 1)
        self.pool_size = require_int("pool_size", pool_size, 1)
        self.mc_samples = require_int("mc_samples", mc_samples, 1)
        if kernel not in KERNELS:
            raise PolicyArgumentError(f"option kernel must be one of {list(KERNELS)}, got {kernel!r}")
        self.kernel = kernel
        if ref_point is not None:
            if isinstance(ref_point, (str, bytes)) or not isinstance(ref_point, Sequence) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in ref_point):
                raise PolicyArgumentError(f"option ref_point must be a list of finite numbers, one per objective, got {ref_point!r}")
            ref_point = [float(v) for v in ref_point]
        self.ref_point = ref_point
        self.candidates: CandidateSet | None = None
        self.version = version_string(VERSION, self.options, _DEFAULTS)

    @property
    def options(self) -> dict[str, Any]:
        """The options this instance was built with."""
        return {"n_init": self.n_init, "pool_size": self.pool_size, "mc_samples": self.mc_samples,
                "kernel": self.kernel, "ref_point": self.ref_point}

    def with_candidates(self, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> QLogNEHVIPolicy:
        """A copy of this policy that picks only among ``candidates`` (same name and version)."""
        out = copy.copy(self)
        out.candidates = as_candidate_set(candidates)
        return out

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` greedy qLogNEHVI picks (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        if k == 0:
            return []
        names = [o.name for o in state.objectives]
        signs = [-1.0 if o.direction == "minimize" else 1.0 for o in state.objectives]
        data = objective_data(state, names, signs)
        common = {"objectives": names, "n_train": data.n, "n_pending": int(data.X_pending.shape[0])}
        if len(names) < 2:
            return self._fallback(state, k, f"qlognehvi needs two or more objectives; the campaign has {names}", common)
        if self.ref_point is not None and len(self.ref_point) != len(names):
            return self._fallback(state, k, f"ref_point has {len(self.ref_point)} values for {len(names)} objectives", common)
        if data.n < self.n_init:
            reason = f"too few experiments measuring every objective ({data.n}, n_init={self.n_init})"
            return self._fallback(state, k, reason, common)
        seed = derive_seed(state.seed, state.decision_index, salt="qlognehvi")
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                picks = self._pick(state, data, signs, k, seed)
        except Exception as exc:
            _LOG.warning("qlognehvi: GP step failed at decision %s; falling back to Sobol", state.decision_index,
                         exc_info=True)
            return self._fallback(state, k, f"GP step failed: {type(exc).__name__}: {exc}"[:500], common)
        out = [Proposal(params, self.name, self.version, 0.0, {**common, **extra}) for params, extra in picks]
        check_proposals(state, n, out)
        return out

    def _pool(self, state: CampaignState, seed: int) -> CandidatePool:
        if self.candidates is None:
            return candidate_pool(state, size=self.pool_size, seed=seed)
        pool = self.candidates.untried(state)
        if len(pool) <= self.pool_size:
            return pool
        gen = torch.Generator().manual_seed(seed % 2**63)
        keep = sorted(torch.randperm(len(pool), generator=gen)[: self.pool_size].tolist())
        return CandidatePool(pool.X[keep], [pool.params[i] for i in keep], pool.n_drawn)

    def _pick(self, state: CampaignState, data: ObjectiveData, signs: list[float], k: int,
              seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        pool = self._pool(state, seed)
        if len(pool) == 0:
            return []
        if self.ref_point is not None:
            ref = torch.tensor([s * v for s, v in zip(signs, self.ref_point)], dtype=torch.float64)
        else:
            ref = default_ref_point(data.Y)
        models = [fit_gp(data.X, data.Y[:, j : j + 1], self.kernel) for j in range(data.Y.shape[1])]
        outcome = constrained_model(state, models, lambda X, Y: fit_gp(X, Y, self.kernel), multi_output=True)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed % 2**31)
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=outcome.model, ref_point=ref.tolist(), X_baseline=data.X, sampler=sampler,
            objective=outcome.objective, constraints=outcome.constraints,  # type: ignore[arg-type]
            X_pending=data.X_pending if data.X_pending.shape[0] else None, prune_baseline=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen, values = optimize_acqf_discrete(acqf, q=min(k, len(pool)), choices=pool.X, unique=True)
        values = values.reshape(-1)
        ref_units = [round(s * float(v), 9) for s, v in zip(signs, ref)]
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i in range(chosen.shape[0]):
            idx = int((pool.X == chosen[i]).all(dim=-1).nonzero()[0, 0])
            value = float(values[i])
            out.append((pool.params[idx], {"acquisition": "qLogNEHVI", "acq_value": value if math.isfinite(value) else None,
                                           "pick": i, "pool_size": len(pool), "ref_point": ref_units,
                                           "constraints_modelled": outcome.modelled}))
        return out

    def _fallback(self, state: CampaignState, k: int, reason: str, common: dict[str, Any]) -> list[Proposal]:
        return fallback_proposals(self, state, k, reason, common, self.candidates)

    def __repr__(self) -> str:
        return f"QLogNEHVIPolicy({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"
