"""Batched GP posterior features: what the acquisition network sees of each candidate.

Many campaigns (environments) are featurised at once. Each has observed points ``X`` with values
``y``, pending points (in flight, result unknown) and candidates, all padded to common sizes with
boolean masks. The GP is an isotropic Matern-5/2 with unit signal variance on standardised ``y``;
its lengthscale and noise are picked per campaign from a fixed grid by the exact log marginal
likelihood (batched Cholesky over the grid), so there is no per-campaign optimiser loop.

**Pending experiments are fantasised** as in a kriging believer: they do not move the posterior
mean (their value is unknown) but they do shrink the posterior standard deviation, so the policy
sees that a region already being measured is not uncertain any more.

Candidate features (``CAND_FEATURES``, shape ``(B, K, 8)``): posterior mean, log standard deviation
with pending fantasised, improvement z-score over the best observed value, LogEI, the ratio of the
pending-aware to the observed-only standard deviation, distance to the nearest observed and pending
point (divided by sqrt(dim)), and the LogEI rank among the campaign's candidates (0 best, 1 worst).
Global features (``GLOBAL_FEATURES``, shape ``(B, 8)``) describe budget, pending count, time to the
next expected result and the fitted hyper-parameters.

Example:
    >>> import torch
    >>> X = torch.rand(2, 5, 3, dtype=torch.float64); y = X.sum(-1)
    >>> batch = PosteriorInput(X, y, torch.ones(2, 5, dtype=torch.bool), torch.zeros(2, 0, 3, dtype=torch.float64),
    ...                        torch.zeros(2, 0, dtype=torch.bool), torch.rand(2, 7, 3, dtype=torch.float64),
    ...                        torch.ones(2, 7, dtype=torch.bool))
    >>> feats = featurize(batch, budget_used=torch.tensor([0.1, 0.2]), time_to_next=torch.zeros(2))
    >>> tuple(feats.candidates.shape), tuple(feats.globals.shape)
    ((2, 7, 8), (2, 8))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CAND_FEATURES", "GLOBAL_FEATURES", "LENGTHSCALE_GRID", "NOISE_GRID", "Features", "PosteriorInput",
           "featurize", "log_h"]

CAND_FEATURES = ("mean", "log_std", "z", "log_ei", "std_ratio", "dist_observed", "dist_pending", "log_ei_rank")
GLOBAL_FEATURES = ("budget_used", "budget_left", "pending", "time_to_next", "log_lengthscale", "log_noise",
                   "observed", "dim")
#: Lengthscales tried, in units of sqrt(dim) (the diameter of the unit cube).
LENGTHSCALE_GRID = (0.03, 0.06, 0.1, 0.16, 0.25, 0.4, 0.65, 1.0, 2.0)
#: Noise variances tried, relative to the standardised signal variance 1.
NOISE_GRID = (1e-4, 1e-2, 0.1, 0.4)
_SQRT5 = math.sqrt(5.0)
#: Most Gram-matrix entries held at once while choosing hyper-parameters.
_GRID_CHUNK_ELEMENTS = 8_000_000
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class PosteriorInput:
    """Padded campaigns. ``B`` campaigns, ``N`` observed, ``M`` pending, ``K`` candidates, ``d`` dims.

    Attributes:
        X: observed inputs, ``(B, N, d)`` in ``[0, 1]``; y: their values (larger is better), ``(B, N)``.
        obs_mask: which observed slots are real, ``(B, N)`` bool.
        pending: pending inputs, ``(B, M, d)``; pending_mask: ``(B, M)`` bool.
        candidates: ``(B, K, d)``; cand_mask: ``(B, K)`` bool (False: padding or not allowed).
        dims: the true dimension of each campaign, ``(B,)`` (default ``d`` for all).
    """

    X: Tensor
    y: Tensor
    obs_mask: Tensor
    pending: Tensor
    pending_mask: Tensor
    candidates: Tensor
    cand_mask: Tensor
    dims: Tensor | None = None


@dataclass(frozen=True)
class Features:
    """Network inputs. candidates: ``(B, K, 8)``; globals: ``(B, 8)``; lengthscale, noise: ``(B,)``
    (lengthscale in units of sqrt(dim)); log_ei: ``(B, K)`` (the imitation teacher's score)."""

    candidates: Tensor
    globals: Tensor
    lengthscale: Tensor
    noise: Tensor
    log_ei: Tensor


def _matern52(a: Tensor, b: Tensor, lengthscale: Tensor) -> Tensor:
    """Matern-5/2 kernel, ``a`` ``(B, P, d)``, ``b`` ``(B, Q, d)``, lengthscale ``(B, G)`` -> ``(B, G, P, Q)``."""
    dist = torch.cdist(a, b).unsqueeze(1) / lengthscale[:, :, None, None]
    r = _SQRT5 * dist
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


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


def _standardise(y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    n = mask.sum(-1, keepdim=True).clamp_min(1)
    mean = (y * mask).sum(-1, keepdim=True) / n
    var = (((y - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    std = var.sqrt().clamp_min(1e-9)
    return torch.where(mask, (y - mean) / std, torch.zeros_like(y)), mask.sum(-1)


def _gram(x: Tensor, mask: Tensor, lengthscale: Tensor, noise: Tensor) -> Tensor:
    """Masked Gram matrix ``(B, G, P, P)``: padding rows are identity rows, so they change nothing."""
    k = _matern52(x, x, lengthscale)
    m = (mask[:, :, None] & mask[:, None, :]).unsqueeze(1)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    diag = torch.where(mask, torch.zeros_like(mask, dtype=x.dtype), torch.ones_like(mask, dtype=x.dtype))
    return k * m + eye * (noise[:, :, None, None] + 1e-6) * m + torch.diag_embed(diag).unsqueeze(1)


def _select_hyper(X: Tensor, ys: Tensor, mask: Tensor, dims: Tensor) -> tuple[Tensor, Tensor]:
    """Per-campaign (lengthscale, noise) from the grid maximising the log marginal likelihood, each ``(B,)``.

    The grid is evaluated in chunks of at most :data:`_GRID_CHUNK_ELEMENTS` Gram-matrix entries, so
    memory stays bounded for long histories (1000 observations: 8e6 doubles, 64 MB, per chunk).
    """
    B, N = X.shape[0], X.shape[1]
    ls = torch.tensor(LENGTHSCALE_GRID, dtype=X.dtype, device=X.device)
    nz = torch.tensor(NOISE_GRID, dtype=X.dtype, device=X.device)
    grid_ls = ls.repeat_interleave(len(NOISE_GRID))
    grid_nz = nz.repeat(len(LENGTHSCALE_GRID))
    scale = dims.to(X.dtype).sqrt()[:, None]
    step = max(1, min(len(grid_ls), _GRID_CHUNK_ELEMENTS // max(B * N * N, 1)))
    fits = []
    for start in range(0, len(grid_ls), step):
        lengthscale = grid_ls[None, start:start + step] * scale
        noise = grid_nz[None, start:start + step].expand(B, -1)
        K = _gram(X, mask, lengthscale, noise)
        L, info = torch.linalg.cholesky_ex(K)
        yv = (ys * mask).unsqueeze(1).unsqueeze(-1).expand(-1, K.shape[1], -1, -1)
        alpha = torch.cholesky_solve(yv, L)
        fit = -0.5 * (yv * alpha).sum((-1, -2)) - torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        fits.append(torch.where(info == 0, fit, torch.full_like(fit, -math.inf)))
        del K, L, alpha
    best = torch.cat(fits, -1).argmax(-1)
    return grid_ls[best], grid_nz[best]


def _posterior(X: Tensor, mask: Tensor, ys: Tensor | None, C: Tensor, lengthscale: Tensor, noise: Tensor
               ) -> tuple[Tensor | None, Tensor]:
    """Posterior mean (if ``ys`` given) and variance at ``C`` given points ``X`` (masked), each ``(B, K)``."""
    ls, nz = lengthscale[:, None], noise[:, None]
    K = _gram(X, mask, ls, nz)[:, 0]
    L, _ = torch.linalg.cholesky_ex(K)
    kx = (_matern52(C, X, ls)[:, 0] * mask[:, None, :]).transpose(-1, -2)  # (B, P, K)
    v = torch.linalg.solve_triangular(L, kx, upper=False)
    var = (1.0 - (v * v).sum(-2)).clamp_min(1e-12)
    if ys is None:
        return None, var
    w = torch.linalg.solve_triangular(L, (ys * mask).unsqueeze(-1), upper=False)
    mean = (v * w).sum(-2)
    return mean, var


def _min_dist(C: Tensor, P: Tensor, mask: Tensor, scale: Tensor) -> Tensor:
    if P.shape[1] == 0:
        return torch.ones(C.shape[:2], dtype=C.dtype, device=C.device)
    d = torch.cdist(C, P).masked_fill(~mask[:, None, :], math.inf).amin(-1) / scale[:, None]
    return torch.where(torch.isfinite(d), d, torch.ones_like(d)).clamp(max=1.0)


def featurize(batch: PosteriorInput, budget_used: Tensor, time_to_next: Tensor) -> Features:
    """Candidate and global features of each campaign.

    Args:
        batch: the padded campaigns (every campaign needs at least one observed point).
        budget_used: experiments used (observed + pending) over the budget, ``(B,)`` in ``[0, 1]``.
        time_to_next: time until the next pending result arrives, over the longest expected
            duration, ``(B,)`` in ``[0, 1]`` (0 when nothing is pending).

    Returns:
        The features; padding candidates get zeros (the network masks them).
    """
    X, C = batch.X, batch.candidates
    B, _, d = X.shape
    dims = batch.dims if batch.dims is not None else torch.full((B,), d, device=X.device)
    scale = dims.to(X.dtype).sqrt()
    ys, n_obs = _standardise(batch.y.to(X.dtype), batch.obs_mask)
    ls_unit, noise = _select_hyper(X, ys, batch.obs_mask, dims)
    lengthscale = ls_unit * scale
    mean, var_obs = _posterior(X, batch.obs_mask, ys, C, lengthscale, noise)
    assert mean is not None
    joint = torch.cat([X, batch.pending], 1)
    joint_mask = torch.cat([batch.obs_mask, batch.pending_mask], 1)
    _, var = _posterior(joint, joint_mask, None, C, lengthscale, noise)
    std = var.sqrt()
    best = ys.masked_fill(~batch.obs_mask, -math.inf).amax(-1, keepdim=True)
    z = ((mean - best) / std).clamp(-40.0, 40.0)
    log_ei = std.log() + log_h(z)
    cm = batch.cand_mask
    masked_ei = log_ei.masked_fill(~cm, -math.inf)
    order = masked_ei.argsort(-1, descending=True).argsort(-1).to(X.dtype)
    rank = order / (cm.sum(-1, keepdim=True).clamp_min(2) - 1).to(X.dtype)
    feats = torch.stack([
        mean, std.log(), z.clamp(-10.0, 10.0) / 5.0, log_ei.clamp_min(-30.0) / 10.0,
        (var / var_obs).sqrt(), _min_dist(C, X, batch.obs_mask, scale), _min_dist(C, batch.pending, batch.pending_mask, scale),
        rank.clamp(0.0, 1.0),
    ], -1)
    feats = torch.where(cm.unsqueeze(-1), feats, torch.zeros_like(feats))
    n_pending = batch.pending_mask.sum(-1).to(X.dtype)
    glob = torch.stack([
        budget_used.to(X.dtype), 1.0 - budget_used.to(X.dtype), n_pending / 8.0, time_to_next.to(X.dtype),
        ls_unit.log(), noise.log10() / 4.0, (n_obs.to(X.dtype) / 50.0).clamp(max=2.0), dims.to(X.dtype) / 10.0,
    ], -1)
    return Features(feats, glob, ls_unit, noise, log_ei.masked_fill(~cm, -math.inf))
