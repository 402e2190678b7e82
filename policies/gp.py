"""The BoTorch baseline: a GP with batch q-LogNEI over a pool of feasible candidates.

One decision:

1. :func:`policies.features.training_data` turns the state into ``X`` ``(n, dim)``, ``Y`` ``(n, 1)``
   and ``X_pending`` ``(m, dim)`` (pending experiments, encoded).
2. A ``SingleTaskGP`` (Matern-5/2 ARD kernel with BoTorch's dimension-scaled log-normal
   lengthscale prior by default, or BoTorch's default RBF; inferred homoscedastic noise;
   ``Standardize`` outcome transform; no input transform since features already lie in the unit
   cube) is fitted with ``fit_gpytorch_mll``.
3. ``qLogNoisyExpectedImprovement`` with ``X_pending`` set to the pending experiments (so they are
   fantasised, never re-proposed) is maximised by ``optimize_acqf_discrete`` over a fresh Sobol
   pool (:func:`policies.candidates.candidate_pool`, observed and pending points removed) with
   ``q = n``: sequential greedy, each pick conditioned on the pending points and earlier picks.

**Fallbacks** (never crash an overnight campaign): with fewer than ``n_init`` training points, when
every training target is equal, or when fitting or optimising raises, the policy proposes the next
points of the campaign's Sobol sequence (:func:`policies.sobol.sobol_params`) and records
``Fallback("sobol", reason)`` as each proposal's ``fallback`` (and logs a warning for
exceptions). Proposals still carry this policy's name and version, since it made the decision.

**Outcome constraints** (the spec's ``[[constraints]]``, ``state.constraints``): each constrained
quantity gets its own GP and qLogNEI weights the improvement by the probability of feasibility;
its best-so-far counts only baseline points deemed feasible (:mod:`policies.outcomes`).
``detail["constraints_modelled"]`` says how many constraints were modelled.

**Fixed candidates.** ``make_policy("qlognei", candidates=[params, ...])`` (or
:meth:`QLogNEIPolicy.with_candidates`) replaces the Sobol pool by the untried rows of that set, and
the Sobol fallback snaps each point to the nearest untried candidate.

Picks are deterministic given the state (MC sampler and GP restarts are seeded from
:func:`policies.protocol.derive_seed`), so ``log_prob`` is 0.0. ``detail["acq_value"]`` is the
log-EI increment of that pick given the pending points and the earlier picks of the batch;
``detail["predicted"]`` is the GP's posterior ``{"of", "mean", "std"}`` at the pick, in the
target's own units (the reward, or the primary objective's value, un-negated for ``minimize``).
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from botorch.optim import optimize_acqf_discrete
from botorch.sampling.normal import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from lab.experiment import Proposal
from lab.state import CampaignState
from policies.candidates import (
    DEFAULT_POOL_SIZE,
    CandidatePool,
    CandidateSet,
    candidate_pool,
)
from policies.discrete import as_candidate_set, fallback_proposals
from policies.errors import PolicyArgumentError
from policies.features import FAILED_MODES, TrainingData, training_data
from policies.outcomes import constrained_model
from policies.protocol import (
    batch_size,
    check_proposals,
    derive_seed,
    require_int,
    version_string,
)

__all__ = ["KERNELS", "QLogNEIPolicy", "fit_gp"]

VERSION = "1"
KERNELS = ("matern52", "rbf")
_LOG = logging.getLogger(__name__)
_DEFAULTS: dict[str, Any] = {"n_init": 3, "pool_size": DEFAULT_POOL_SIZE, "mc_samples": 128,
                             "kernel": "matern52", "failed": "worst"}


def fit_gp(X: Tensor, Y: Tensor, kernel: str = "matern52") -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` by maximising the marginal likelihood.

    Args:
        X: inputs in the unit cube, shape ``(n, dim)``, float64.
        Y: targets, shape ``(n, 1)``, float64.
        kernel: ``"matern52"`` (Matern-5/2 ARD) or ``"rbf"`` (RBF ARD, BoTorch's default); both
            with BoTorch's dimension-scaled log-normal lengthscale prior.

    Returns:
        The fitted model in eval mode.

    Raises:
        botorch.exceptions.ModelFittingError: the fit failed even after BoTorch's retries.
    """
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=X.shape[-1], use_rbf_kernel=kernel == "rbf")
    model = SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optimiser chatter; a real failure raises
        fit_gpytorch_mll(mll)
    return model.eval()


class QLogNEIPolicy:
    """GP + qLogNEI with pending experiments as ``X_pending``, optimised over a candidate pool.

    Args:
        n_init: fewest training points for a GP; with fewer, Sobol points are proposed.
        pool_size: candidates per decision (a fresh Sobol pool each decision).
        mc_samples: quasi-MC samples of the acquisition function.
        kernel: ``"matern52"`` or ``"rbf"`` (see :func:`fit_gp`).
        failed: chemistry failures: ``"worst"`` (imputed worst value) or ``"drop"`` (see
            :mod:`policies.features`).

    Attributes:
        name: ``"qlognei"``.
        version: ``"1"`` plus any non-default options, e.g. ``"1+pool_size=512"``.

    Raises:
        PolicyArgumentError: an option has an invalid value.
    """

    name = "qlognei"

    def __init__(self, *, n_init: int = 3, pool_size: int = DEFAULT_POOL_SIZE, mc_samples: int = 128,
                 kernel: str = "matern52", failed: str = "worst") -> None:
        self.n_init = require_int("n_init", n_init, 1)
        self.pool_size = require_int("pool_size", pool_size, 1)
        self.mc_samples = require_int("mc_samples", mc_samples, 1)
        if kernel not in KERNELS:
            raise PolicyArgumentError(f"option kernel must be one of {list(KERNELS)}, got {kernel!r}")
        if failed not in FAILED_MODES:
            raise PolicyArgumentError(f"option failed must be one of {list(FAILED_MODES)}, got {failed!r}")
        self.kernel = kernel
        self.failed = failed
        self.candidates: CandidateSet | None = None
        self.version = version_string(VERSION, self.options, _DEFAULTS)

    def with_candidates(self, candidates: CandidateSet | Sequence[Mapping[str, Any]]) -> QLogNEIPolicy:
        """A copy of this policy that picks only among ``candidates`` (same name and version)."""
        out = copy.copy(self)
        out.candidates = as_candidate_set(candidates)
        return out

    @property
    def options(self) -> dict[str, Any]:
        """The options this instance was built with."""
        return {"n_init": self.n_init, "pool_size": self.pool_size, "mc_samples": self.mc_samples,
                "kernel": self.kernel, "failed": self.failed}

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` greedy qLogNEI picks (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        if k == 0:
            return []
        data = training_data(state, failed=self.failed)
        common = {"target": data.target, "n_train": data.n, "n_pending": int(data.X_pending.shape[0]),
                  "n_failed": data.n_failed, "n_dropped": data.n_dropped}
        if data.n < self.n_init:
            reason = f"too few observations for a GP ({data.n} usable, n_init={self.n_init})"
            return self._fallback(state, k, reason, common)
        if float(data.Y.max() - data.Y.min()) <= 1e-12 * max(1.0, float(data.Y.abs().max())):
            return self._fallback(state, k, "all training targets are equal; a GP cannot rank candidates", common)
        seed = derive_seed(state.seed, state.decision_index, salt="qlognei")
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                picks = self._pick(state, data, k, seed)
        except Exception as exc:
            _LOG.warning("qlognei: GP step failed at decision %s; falling back to Sobol", state.decision_index,
                         exc_info=True)
            return self._fallback(state, k, f"GP step failed: {type(exc).__name__}: {exc}"[:500], common)
        out = [Proposal(params, self.name, self.version, 0.0, {**common, **extra}) for params, extra in picks]
        check_proposals(state, n, out)
        return out

    def _pick(self, state: CampaignState, data: TrainingData, k: int,
              seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        pool: CandidatePool = (self.candidates.untried(state) if self.candidates is not None
                               else candidate_pool(state, size=self.pool_size, seed=seed))
        if len(pool) == 0:
            return []
        model = fit_gp(data.X, data.Y, self.kernel)
        outcome = constrained_model(state, [model], lambda X, Y: fit_gp(X, Y, self.kernel), multi_output=False)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed % 2**31)
        acqf = qLogNoisyExpectedImprovement(
            model=outcome.model,
            X_baseline=data.X,
            sampler=sampler,
            objective=outcome.objective,
            X_pending=data.X_pending if data.X_pending.shape[0] else None,
            constraints=outcome.constraints,
            prune_baseline=True,
        )
        q = min(k, len(pool))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen, values = optimize_acqf_discrete(acqf, q=q, choices=pool.X, unique=True)
        values = values.reshape(-1)
        with torch.no_grad():
            post = model.posterior(chosen.unsqueeze(-2))  # one-point posteriors of the picks
            means, stds = post.mean.reshape(-1).tolist(), post.variance.clamp_min(0.0).sqrt().reshape(-1).tolist()
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i in range(chosen.shape[0]):
            idx = int((pool.X == chosen[i]).all(dim=-1).nonzero()[0, 0])
            value = float(values[i])
            extra = {"acquisition": "qLogNEI", "acq_value": value if math.isfinite(value) else None,
                     "pick": i, "pool_size": len(pool), "constraints_modelled": outcome.modelled,
                     "predicted": _predicted(state, data.target, means[i], stds[i])}
            out.append((pool.params[idx], extra))
        return out

    def _fallback(self, state: CampaignState, k: int, reason: str, common: dict[str, Any]) -> list[Proposal]:
        return fallback_proposals(self, state, k, reason, common, self.candidates)

    def __repr__(self) -> str:
        return f"QLogNEIPolicy({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


def _predicted(state: CampaignState, target: str, mean: float, std: float) -> dict[str, Any]:
    """A pick's posterior mean and standard deviation in its target's own units (``{"of", "mean", "std"}``)."""
    name = target.removeprefix("objective:")
    flip = target != "reward" and any(o.name == name and o.direction == "minimize" for o in state.objectives)
    return {"of": name, "mean": -mean if flip else mean, "std": std}
