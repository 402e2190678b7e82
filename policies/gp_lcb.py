"""``gp-iso-lcb``: a GP with an isotropic Matern-5/2 kernel and a confidence-bound acquisition.

This is the configuration whose results Liang et al. 2021 ship as
``reference_topcount_GP_M52iso_LCB2_crossed_barrel.csv`` ("GP, Matern-5/2 isotropic, LCB2").

Model: BoTorch ``SingleTaskGP`` with **one** lengthscale shared by every input (no ARD), inferred
homoscedastic noise, ``Standardize`` outcome transform (GPyOpt's ``normalize_Y``), inputs already in
the unit cube. Two ways to fit its hyper-parameters (option ``fit``):

* ``"mle"`` (the default since version 2): the model as GPyOpt (which Liang et al. used) fits it,
  ``ScaleKernel(MaternKernel(nu=2.5))`` (GPy's ``Matern52`` has a variance), **no priors**, the
  marginal likelihood alone maximised from GPy's starting values (lengthscale 1, signal variance 1)
  and GPyOpt's starting noise variance (1% of the normalised targets' variance), noise variance
  >= 1e-9 (recent GPyOpt's lower bound). One L-BFGS run from those values at each decision.
* ``"map"`` (version 1's model): a gpytorch ``MaternKernel(nu=2.5)`` with BoTorch's
  dimension-scaled log-normal lengthscale prior (``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))``,
  lengthscale >= 0.025, the same prior family as ``qlognei`` so the two differ only in ARD and
  acquisition) and BoTorch's default noise prior, no output scale; the marginal likelihood times
  the priors is maximised.

The posterior is evaluated one candidate at a time (a batch of ``M`` 1-point posteriors), which
gives the same mean and variance as the joint posterior without forming its ``M x M`` covariance.

**Acquisition convention.** Liang et al. minimise ``LCB(x) = mu(x) - lambda * sigma(x)`` of the
(negated) objective with ``lambda = 2`` (GPyOpt's ``exploration_weight``: the multiplier is on the
**standard deviation**). On the larger-is-better target used here that is the same ranking as
maximising ``UCB(x) = mu(x) + lambda * sigma(x)`` with ``lambda = 2``, where ``sigma`` is the latent
function's posterior standard deviation. In BoTorch's ``UpperConfidenceBound`` convention
(``mu + sqrt(beta) * sigma``) this is ``beta = lambda**2 = 4``. One pick per cycle is the intended
use; a batch of ``q > 1`` takes the ``q`` best bounds (see :mod:`policies.scored`).

**Outcome constraints** (the spec's ``[[constraints]]``, ``state.constraints``): each constrained
quantity gets its own GP, fitted as the objective's is (:func:`fit_iso_gp`, same ``fit``), and each
candidate's probability of feasibility is the product over quantities of the Normal probability
that its latent value lies within the bounds (:func:`policies.outcomes.feasibility`). The bound
``mu + lam * sigma`` then ranks only the candidates with probability at least
:data:`policies.scored.FEASIBLE_THRESHOLD` (0.5: more likely feasible than not; a confidence
bound is no improvement, so it cannot be weighted by a probability as qLogNEI weights its
improvement). If none qualifies, the most likely feasible candidates are proposed and
``detail["constraints"]`` says so. ``detail["constraints_modelled"]`` counts the modelled quantities
and ``detail["p_feasible"]`` is the pick's probability when any is modelled.

Defaults (``n_init=2``, ``lam=2.0``, ``fit="mle"``) are the paper's configuration (2 initial points,
exploration weight 2, hyper-parameters by maximum likelihood without priors as GPyOpt fits them),
not values tuned on benchmark results. Version 1 of this policy was ``fit="map"`` (now version
``"2+fit=map"``).

Example:
    >>> GPIsoLCBPolicy(fit="map").version
    '2+fit=map'

"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from gpytorch.utils.warnings import NumericalWarning
from torch import Tensor

from lab.state import CampaignState
from policies.candidates import DEFAULT_POOL_SIZE
from policies.errors import PolicyArgumentError
from policies.features import TrainingData
from policies.outcomes import feasibility
from policies.protocol import version_string
from policies.scored import ScoredPoolPolicy

__all__ = ["FITS", "GPIsoLCBPolicy", "fit_iso_gp"]

VERSION = "2"
FITS = ("map", "mle")
_DEFAULTS: dict[str, Any] = {"n_init": 2, "pool_size": DEFAULT_POOL_SIZE, "lam": 2.0, "fit": "mle"}
#: GPyOpt's noise-variance bound and starting value (a fraction of the normalised targets' variance).
_MLE_MIN_NOISE = 1e-9
_MLE_INITIAL_NOISE = 0.01


def fit_iso_gp(X: Tensor, Y: Tensor, fit: str = "mle") -> SingleTaskGP:
    """Fit a GP with an isotropic Matern-5/2 kernel.

    Args:
        X: inputs in the unit cube, shape ``(n, dim)``, float64.
        Y: targets, shape ``(n, 1)``, float64.
        fit: ``"map"`` (lengthscale and noise priors) or ``"mle"`` (no priors, GPyOpt's model); see
            the module docstring.

    Returns:
        The fitted model in eval mode.

    Raises:
        PolicyArgumentError: ``fit`` is not one of :data:`FITS`.
    """
    if fit == "map":
        prior = LogNormalPrior(loc=math.sqrt(2.0) + 0.5 * math.log(X.shape[-1]), scale=math.sqrt(3.0))
        covar = MaternKernel(nu=2.5, ard_num_dims=None, lengthscale_prior=prior,
                             lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=prior.mode))
        model = SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    elif fit == "mle":
        base = MaternKernel(nu=2.5, ard_num_dims=None)
        base.lengthscale = 1.0
        covar = ScaleKernel(base)
        covar.outputscale = 1.0
        likelihood = GaussianLikelihood(noise_constraint=GreaterThan(_MLE_MIN_NOISE, transform=None))
        likelihood.noise = _MLE_INITIAL_NOISE
        model = SingleTaskGP(X, Y, likelihood=likelihood, covar_module=covar, outcome_transform=Standardize(m=1))
    else:
        raise PolicyArgumentError(f"option fit must be one of {list(FITS)}, got {fit!r}")
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(mll)
    return model.eval()


class GPIsoLCBPolicy(ScoredPoolPolicy):
    """Isotropic Matern-5/2 GP + confidence bound ``mu + lam * sigma`` (LCB2 of Liang et al.).

    With outcome constraints, only candidates likely feasible compete (see the module docstring).

    Args:
        n_init: fewest training points for a GP (default 2, Liang et al.'s initial design).
        pool_size: Sobol candidates per decision when no candidate set is given.
        lam: multiplier of the posterior standard deviation (2.0: "LCB2").
        fit: ``"mle"`` (maximum likelihood, no priors, as GPyOpt; default) or ``"map"`` (BoTorch priors).

    Attributes:
        name: ``"gp-iso-lcb"``; version: ``"2"`` plus non-default options.
    """

    name = "gp-iso-lcb"
    acquisition = "UCB(mu + lam*sigma)"

    def __init__(self, *, n_init: int = 2, pool_size: int = DEFAULT_POOL_SIZE, lam: float = 2.0,
                 fit: str = "mle") -> None:
        super().__init__(n_init=n_init, pool_size=pool_size)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
            raise PolicyArgumentError(f"option lam must be a finite number >= 0, got {lam!r}")
        if fit not in FITS:
            raise PolicyArgumentError(f"option fit must be one of {list(FITS)}, got {fit!r}")
        self.lam = float(lam)
        self.fit = fit
        self.version = version_string(VERSION, self.options, _DEFAULTS)

    @property
    def options(self) -> dict[str, Any]:
        return {"n_init": self.n_init, "pool_size": self.pool_size, "lam": self.lam, "fit": self.fit}

    def scores(self, data: TrainingData, X: Tensor, seed: int) -> Tensor:
        """``mu + lam * sigma`` of each candidate ``X`` ``(M, dim)``; shape ``(M,)``."""
        model = fit_iso_gp(data.X, data.Y, self.fit)
        with torch.no_grad(), warnings.catch_warnings():
            # gpytorch warns when it rounds a slightly negative variance (a near-noiseless MLE fit) up to 1e-10
            warnings.simplefilter("ignore", NumericalWarning)
            post = model.posterior(X.unsqueeze(-2))  # M one-point posteriors: no M x M covariance
            mean = post.mean.reshape(-1)
            std = post.variance.clamp_min(0.0).sqrt().reshape(-1)
        return mean + self.lam * std

    def feasibility(self, state: CampaignState, X: Tensor) -> tuple[Tensor, int]:
        """Each candidate's probability of meeting ``state``'s outcome constraints ``(M,)``, and how many
        constrained quantities are modelled (see the module docstring)."""
        return feasibility(state, X, lambda Xc, Yc: fit_iso_gp(Xc, Yc, self.fit))

    def __repr__(self) -> str:
        return f"GPIsoLCBPolicy({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"
