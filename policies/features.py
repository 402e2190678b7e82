"""Observations to training tensors for model-based policies.

Rules (one campaign state in, :class:`TrainingData` out):

* **Target.** If any observation has a reward, the target is the reward (``target="reward"``); a
  completed, non-failed experiment whose reward is not computed yet is treated as **pending** (its
  result is not known to the policy, and it must not be proposed again). If no observation has a
  reward, the target is the first objective, signed so that larger is better (``-value`` for
  ``minimize``; ``target="objective:<name>"``), and experiments lacking that value are pending.
  Rewards and raw objectives are never mixed in one training set: their scales differ.
* **Chemistry failures** (``failed=True``) are real, bad outcomes. With ``failed="worst"`` (the
  default) a failure keeps its reward if it has one (the reward definition's failure reward);
  otherwise it gets the worst target value among the successful experiments, so the model learns
  to avoid that region (and it is dropped while there is no successful one). With
  ``failed="drop"`` failures are left out of the training set (still never re-proposed).
* Observations whose parameters are not valid in the space, or whose target is not finite, are
  dropped and counted.
* Features are ``space.encode`` clamped to ``[0, 1]``, float64, on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lab.state import CampaignState, Observation
from policies.errors import PolicyArgumentError
from policies.protocol import item_features

__all__ = ["FAILED_MODES", "TrainingData", "training_data"]

FAILED_MODES = ("worst", "drop")


@dataclass(frozen=True)
class TrainingData:
    """Training tensors of a campaign state.

    Attributes:
        X: encoded inputs, shape ``(n, dim)``, float64 in ``[0, 1]``.
        Y: targets (larger is better), shape ``(n, 1)``, float64.
        X_pending: encoded pending experiments (and completed ones awaiting a reward), shape ``(m, dim)``.
        target: ``"reward"`` or ``"objective:<name>"``.
        n_failed: chemistry failures included in ``X``/``Y``.
        n_dropped: observations left out (invalid parameters, non-finite target, dropped failures).
        n_awaiting: completed experiments without a target value, counted in ``X_pending``.
    """

    X: Tensor
    Y: Tensor
    X_pending: Tensor
    target: str
    n_failed: int = 0
    n_dropped: int = 0
    n_awaiting: int = 0

    @property
    def n(self) -> int:
        """Number of training points."""
        return int(self.X.shape[0])


def _target_of(state: CampaignState) -> tuple[str, str | None, float]:
    """``(label, objective name or None for reward, sign)``."""
    if any(o.reward is not None for o in state.observations) or not state.objectives:
        return "reward", None, 1.0
    obj = state.objectives[0]
    return f"objective:{obj.name}", obj.name, (-1.0 if obj.direction == "minimize" else 1.0)


def _value(o: Observation, objective: str | None, sign: float) -> float | None:
    if objective is None:
        return None if o.reward is None else float(o.reward)
    raw = o.objectives.get(objective)
    return None if raw is None else sign * float(raw)


def _tensor(rows: Sequence[Sequence[float]], dim: int) -> Tensor:
    return torch.tensor(list(rows), dtype=torch.float64).reshape(len(rows), dim).clamp(0.0, 1.0)


def training_data(state: CampaignState, failed: str = "worst") -> TrainingData:
    """Training tensors for ``state`` (rules in the module docstring).

    Long by design: the rules for failed, missing and pending values read in the order the
    module docstring states them, in one pass over the observations.

    Args:
        state: the campaign state.
        failed: ``"worst"`` or ``"drop"``: what to do with chemistry failures.

    Returns:
        :class:`TrainingData` with ``X`` ``(n, dim)``, ``Y`` ``(n, 1)``, ``X_pending`` ``(m, dim)``.

    Raises:
        PolicyArgumentError: ``failed`` is not one of :data:`FAILED_MODES`.
    """
    if failed not in FAILED_MODES:
        raise PolicyArgumentError(f"failed must be one of {list(FAILED_MODES)}, got {failed!r}")
    space = state.space
    label, objective, sign = _target_of(state)
    xs: list[list[float]] = []
    ys: list[float] = []
    failures: list[list[float]] = []  # failures still needing an imputed value
    pending: list[list[float]] = []
    n_failed = n_dropped = n_awaiting = 0
    for o in state.observations:
        x = item_features(space, o)[0]
        if x is None:
            n_dropped += 1
            continue
        y = _value(o, objective, sign)
        if o.failed:
            if failed == "drop":
                n_dropped += 1
            elif y is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
                n_failed += 1
            else:
                failures.append(x)
            continue
        if y is None:
            pending.append(x)
            n_awaiting += 1
        elif math.isfinite(y):
            xs.append(x)
            ys.append(y)
        else:
            n_dropped += 1
    if failures:
        if ys:
            worst = min(ys)
            xs.extend(failures)
            ys.extend([worst] * len(failures))
            n_failed += len(failures)
        else:
            n_dropped += len(failures)
    for p in state.pending:
        x = item_features(space, p)[0]
        if x is not None:
            pending.append(x)
    return TrainingData(
        X=_tensor(xs, space.dim),
        Y=torch.tensor(ys, dtype=torch.float64).reshape(-1, 1),
        X_pending=_tensor(pending, space.dim),
        target=label,
        n_failed=n_failed,
        n_dropped=n_dropped,
        n_awaiting=n_awaiting,
    )
