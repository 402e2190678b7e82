"""Acquisition values on posterior means and spreads, and scale-free ranks of them.

One LogEI for the project (``log_ei``, accurate far into the tail), upper confidence bounds, and
:func:`quantile_rank`, which turns any score over a campaign's candidates into ``[0, 1]`` (1 best),
so a feature means the same on every objective's scale.

Example:
    >>> import torch
    >>> mean, std = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[1.0, 1.0, 0.1]])
    >>> [round(v, 3) for v in log_ei(mean, std, torch.tensor([1.5])).exp()[0].tolist()]
    [0.029, 0.198, 0.5]
    >>> quantile_rank(torch.tensor([[3.0, 1.0, 2.0, 9.0]]), torch.tensor([[True, True, True, False]])).tolist()
    [[1.0, 0.0, 0.5, 0.0]]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["log_ei", "log_h", "quantile_rank", "ucb"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_h(z: Tensor) -> Tensor:
    """``log(phi(z) + z * Phi(z))``, the LogEI of a unit-std posterior, accurate for very negative ``z``.

    For ``z <= -1`` it uses ``phi(z) + z Phi(z) = exp(-z^2/2) (1/sqrt(2 pi) + z/2 erfcx(-z/sqrt(2)))``,
    which avoids the underflow of ``Phi`` (float64 keeps it accurate down to ``z = -40``).
    """
    direct = torch.log((torch.exp(-0.5 * z * z - _LOG_SQRT_2PI) + z * torch.special.ndtr(z)).clamp_min(1e-300))
    zz = z.clamp(max=-1.0)
    bracket = 1.0 / math.sqrt(2 * math.pi) + 0.5 * zz * torch.special.erfcx(-zz / math.sqrt(2.0))
    tail = -0.5 * zz * zz + torch.log(bracket.clamp_min(1e-300))
    return torch.where(z > -1.0, direct, tail)


def log_ei(mean: Tensor, std: Tensor, best: Tensor, xi: float = 0.0) -> Tensor:
    """``log E[max(f - best - xi, 0)]`` for ``f ~ N(mean, std^2)``; ``mean``, ``std`` ``(B, K)``, ``best`` ``(B,)``."""
    s = std.clamp_min(1e-12)
    z = ((mean - best[:, None] - xi) / s).clamp_min(-40.0)  # log_h(z) -> log(z) for large z: no upper clamp
    return s.log() + log_h(z)


def ucb(mean: Tensor, std: Tensor, lam: float = 2.0) -> Tensor:
    """Upper confidence bound ``mean + lam * std`` (``lam`` multiplies the standard deviation)."""
    return mean + lam * std


def quantile_rank(score: Tensor, mask: Tensor) -> Tensor:
    """Rank of each allowed candidate's score among the allowed ones, in ``[0, 1]`` (1 best), ``(B, K)``;
    masked candidates get 0. Ties are broken by position."""
    s = score.masked_fill(~mask, -math.inf)
    order = s.argsort(-1).argsort(-1).to(score.dtype)  # 0 = smallest, masked ones first
    n_masked = (~mask).sum(-1, keepdim=True).to(score.dtype)
    n = mask.sum(-1, keepdim=True).to(score.dtype)
    r = (order - n_masked) / (n - 1).clamp_min(1)
    return torch.where(mask, r.clamp(0.0, 1.0), torch.zeros_like(r))
