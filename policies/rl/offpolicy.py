"""The PPO-clip objective, and learning from picks that earlier policy versions made in the lab.

:func:`clip_loss` is the one PPO-clip surrogate: :func:`policies.rl.ppo.ppo_update` uses it on fresh
simulated rollouts, :func:`fit_logged_picks` on picks logged in the ledger, each with the
log-probability the version that made it gave it. There the importance ratio
``exp(log p_new(pick) - logged log p)`` corrects for the version gap, and
:func:`effective_sample_size` of those ratios says how many picks the data is worth to a given
network; :func:`version_lag` says how many publications separate each pick's version from the
running one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import torch
from torch import Tensor

from policies.rl.network import AcquisitionNet
from policies.rl.policy import PickInput, pick_log_probs

__all__ = ["clip_loss", "effective_sample_size", "fit_logged_picks", "version_lag"]


def clip_loss(log_prob: Tensor, old_log_prob: Tensor, advantage: Tensor, clip: float) -> Tensor:
    """PPO-clip policy loss ``-mean(min(r A, clip(r, 1 - eps, 1 + eps) A))``, ``r = exp(log p - old log p)``.

    Args:
        log_prob: log-probabilities of the picks under the network being trained ``(N,)``.
        old_log_prob: log-probabilities under the policy that made the picks ``(N,)``.
        advantage: advantage of each pick ``(N,)``.
        clip: the clip range ``eps`` (0.2 is PPO's default).

    Example:
        >>> zero = torch.zeros(3)
        >>> float(clip_loss(zero, zero, torch.tensor([1.0, -1.0, 2.0]), 0.2))
        -0.6666666865348816
    """
    ratio = torch.exp(log_prob - old_log_prob)
    return -torch.min(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage).mean()


def effective_sample_size(log_w: Tensor) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of importance weights given as logs ``(N,)``.

    Example:
        >>> effective_sample_size(torch.zeros(8))
        8.0
        >>> round(effective_sample_size(torch.tensor([0.0, -50.0, -50.0])), 6)
        1.0
    """
    if not log_w.numel():
        return 0.0
    w = torch.exp(log_w - log_w.max())
    return float(w.sum() ** 2 / (w * w).sum())


def fit_logged_picks(net: AcquisitionNet, picks: Sequence[PickInput], logged_log_prob: Tensor, advantage: Tensor,
                     epochs: int, lr: float, clip: float, seed: int = 0) -> None:
    """Full-batch PPO-clip epochs of ``net`` (in place) on picks logged by earlier versions.

    Args:
        net: the network to improve (a copy of the running version); left in eval mode.
        picks: what each logged pick saw and chose (:meth:`RLPolicy.pick_inputs`).
        logged_log_prob: the log-probability each pick had under the version that made it ``(N,)``.
        advantage: advantage of each pick ``(N,)`` (its reward standardised within its campaign).
        epochs: gradient steps; lr: Adam learning rate; clip: the clip range.
        seed: seeds torch's global generator (dropout-free networks draw nothing, but stay reproducible).
    """
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    torch.manual_seed(seed)
    for _ in range(epochs):
        loss = clip_loss(pick_log_probs(net, picks), logged_log_prob, advantage, clip)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()


def version_lag(published: Sequence[str], behaviour_versions: Sequence[str], running: str) -> dict[str, float]:
    """How many publications separate each pick's version from the running one: mean and max.

    Args:
        published: every version of the policy, in publication order.
        behaviour_versions: the version that made each pick (unknown ones are skipped).
        running: the running version.

    Example:
        >>> version_lag(["a", "b", "c"], ["a", "c", "c"], "c")
        {'mean': 0.6666666666666666, 'max': 2.0}
    """
    pos = {v: i for i, v in enumerate(published)}
    lags = [pos.get(running, 0) - pos[v] for v in behaviour_versions if v in pos]
    return {"mean": statistics.fmean(lags), "max": float(max(lags))} if lags else {"mean": math.nan, "max": math.nan}
