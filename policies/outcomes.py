"""Measured objective values as training tensors, and outcome constraints as BoTorch constraints.

A campaign's ``[[constraints]]`` (:class:`lab.state.OutcomeConstraint`) bound measured quantities.
A GP policy honours them by modelling each constrained quantity with its own GP (fitted on the
experiments that measured it) beside the model of what it optimises, in one ``ModelListGP``, and
handing BoTorch one constraint callable per bound (feasible where the callable is ``<= 0``).
BoTorch's log-acquisitions then weight each candidate's improvement by its (smoothed) probability
of feasibility, and their best-so-far counts only baseline points the models deem feasible. A
policy that scores candidates one at a time (``gp-iso-lcb``) asks :func:`feasibility` instead: each
candidate's probability of satisfying every bound under one GP per constrained quantity.

Rules of :func:`objective_data`: chemistry failures and observations lacking any named value are
left out (they are still never proposed again: the candidate pools exclude every observed point);
completed experiments with no values yet count as pending. Values are signed so that larger is
better (``-value`` for ``minimize``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective, MCAcquisitionObjective
from botorch.models import ModelListGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model import Model
from torch import Tensor

from lab.state import CampaignState
from policies.protocol import item_features

__all__ = ["ConstrainedModel", "ObjectiveData", "constrained_model", "feasibility", "objective_data"]

#: Fewest measured values a constraint's GP is fitted on; with fewer, that bound is not modelled yet.
MIN_CONSTRAINT_POINTS = 2


@dataclass(frozen=True)
class ObjectiveData:
    """Encoded experiments and their measured values.

    Attributes:
        X: inputs ``(n, dim)``, float64 in ``[0, 1]``.
        Y: values ``(n, k)``, one column per name, signed so that larger is better.
        X_pending: pending experiments and completed ones without values, ``(m, dim)``.
    """

    X: Tensor
    Y: Tensor
    X_pending: Tensor

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


def objective_data(state: CampaignState, names: Sequence[str], signs: Sequence[float]) -> ObjectiveData:
    """The experiments of ``state`` that measured every one of ``names`` (rules in the module docstring)."""
    xs: list[list[float]] = []
    ys: list[list[float]] = []
    pending: list[list[float]] = []
    for o in state.observations:
        x = item_features(state.space, o)[0]
        if x is None or o.failed:
            continue
        values = [o.objectives.get(name) for name in names]
        if not o.objectives:
            pending.append(x)
        elif all(v is not None and math.isfinite(float(v)) for v in values):
            xs.append(x)
            ys.append([s * float(v) for s, v in zip(signs, values)])  # type: ignore[arg-type]
    for p in state.pending:
        x = item_features(state.space, p)[0]
        if x is not None:
            pending.append(x)
    dim = state.space.dim
    return ObjectiveData(torch.tensor(xs, dtype=torch.float64).reshape(len(xs), dim).clamp(0.0, 1.0),
                         torch.tensor(ys, dtype=torch.float64).reshape(len(ys), len(names)),
                         torch.tensor(pending, dtype=torch.float64).reshape(len(pending), dim).clamp(0.0, 1.0))


@dataclass(frozen=True)
class ConstrainedModel:
    """What an acquisition takes: the model, the objective picking what is optimised, and constraints.

    Attributes:
        model: the outcome models, those optimised first (a ``ModelListGP`` when constraints are modelled).
        objective: ``None`` without modelled constraints, else the outputs optimised.
        constraints: BoTorch constraint callables (feasible where ``<= 0``), or ``None``.
        modelled: how many constraints are modelled (one on a quantity measured fewer than
            :data:`MIN_CONSTRAINT_POINTS` times is not, yet).
    """

    model: Model
    objective: MCAcquisitionObjective | None
    constraints: list[Callable[[Tensor], Tensor]] | None
    modelled: int


def _bound(index: int, low: float | None, high: float | None) -> list[Callable[[Tensor], Tensor]]:
    """BoTorch constraints (feasible where ``<= 0``) for ``low <= Z[..., index] <= high``."""
    out: list[Callable[[Tensor], Tensor]] = []
    if high is not None:
        top = float(high)

        def below(Z: Tensor) -> Tensor:
            return Z[..., index] - top

        out.append(below)
    if low is not None:
        bottom = float(low)

        def above(Z: Tensor) -> Tensor:
            return bottom - Z[..., index]

        out.append(above)
    return out


def _first(Z: Tensor, X: Tensor | None = None) -> Tensor:
    return Z[..., 0]


def constrained_model(state: CampaignState, models: Sequence[GPyTorchModel], fit: Callable[[Tensor, Tensor], GPyTorchModel],
                      multi_output: bool) -> ConstrainedModel:
    """``models`` (one per optimised output) joined with a GP per constrained quantity of ``state``.

    Args:
        state: the campaign (its ``constraints`` and observations).
        models: the fitted models of the optimised outputs.
        fit: fits one GP on ``(X (n, dim), Y (n, 1))``.
        multi_output: the acquisition optimises several outputs (``IdentityMCMultiOutputObjective``)
            rather than one (``GenericMCObjective`` on output 0).
    """
    extra: list[GPyTorchModel] = []
    constraints: list[Callable[[Tensor], Tensor]] = []
    for c in state.constraints:
        data = objective_data(state, [c.objective], [1.0])
        if data.n < MIN_CONSTRAINT_POINTS:
            continue
        constraints += _bound(len(models) + len(extra), c.low, c.high)
        extra.append(fit(data.X, data.Y))
    if not extra:
        only = models[0] if len(models) == 1 else ModelListGP(*models)
        return ConstrainedModel(only, None, None, 0)
    outputs = list(range(len(models)))
    objective: MCAcquisitionObjective = (IdentityMCMultiOutputObjective(outcomes=outputs) if multi_output
                                         else GenericMCObjective(_first))
    return ConstrainedModel(ModelListGP(*models, *extra), objective, constraints, len(extra))


def feasibility(state: CampaignState, X: Tensor, fit: Callable[[Tensor, Tensor], GPyTorchModel]) -> tuple[Tensor, int]:
    """Probability that each candidate satisfies every outcome constraint of ``state``.

    One GP per constrained quantity (bounds on the same quantity are intersected), fitted on the
    experiments that measured it; a quantity measured fewer than :data:`MIN_CONSTRAINT_POINTS`
    times is not modelled yet (probability 1). Under the latent posterior ``N(mu, sigma^2)`` of a
    candidate, a bound ``low <= value <= high`` holds with probability
    ``Phi((high - mu) / sigma) - Phi((low - mu) / sigma)``; the quantities are taken as independent,
    so the probabilities multiply.

    Args:
        state: the campaign (its ``constraints`` and observations).
        X: candidate encodings ``(M, dim)``, float64 in ``[0, 1]``.
        fit: fits one GP on ``(X (n, dim), Y (n, 1))``.

    Returns:
        The probability of feasibility ``(M,)`` in ``[0, 1]``, and how many quantities were modelled.
    """
    bounds: dict[str, tuple[float, float]] = {}
    for c in state.constraints:
        low, high = bounds.get(c.objective, (-math.inf, math.inf))
        bounds[c.objective] = (max(low, -math.inf if c.low is None else c.low),
                               min(high, math.inf if c.high is None else c.high))
    p = torch.ones(X.shape[0], dtype=X.dtype)
    modelled = 0
    for name, (low, high) in bounds.items():
        data = objective_data(state, [name], [1.0])
        if data.n < MIN_CONSTRAINT_POINTS:
            continue
        model = fit(data.X, data.Y)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpytorch rounding a slightly negative variance up
            post = model.posterior(X.unsqueeze(-2))  # M one-point posteriors: no M x M covariance
            mean = post.mean.reshape(-1)
            std = post.variance.clamp_min(0.0).sqrt().reshape(-1).clamp_min(1e-12)
        p = p * (torch.special.ndtr((high - mean) / std) - torch.special.ndtr((low - mean) / std)).clamp_min(0.0)
        modelled += 1
    return p, modelled
