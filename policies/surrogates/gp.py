"""A batched ARD Gaussian process in plain torch: many campaigns fitted and queried at once.

Two models (per campaign ``b``), both Matern-5/2 on standardised targets with homoscedastic noise:

* ``kind="ard"`` (the default; BoTorch's ``SingleTaskGP`` as qLogNEI uses it): one lengthscale per
  input dimension, unit signal variance, a MAP estimate under BoTorch's priors (lengthscale
  ``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))``, noise variance ``LogNormal(-4, 1)``, noise >= 1e-4).
* ``kind="iso"`` (GPyOpt's model, as ``gp-iso-lcb`` fits it): one lengthscale for every dimension,
  a fitted signal variance, maximum likelihood without priors (noise >= 1e-6), started from GPy's
  values (lengthscale 1, signal variance 1, noise 0.01).

Hyper-parameters are found by Adam on their logarithms, with the log marginal likelihood's
gradient in closed form (:func:`_gradient`; about four times cheaper than autograd through the
Cholesky factor, and the same fit to 1e-13). Adam is element-wise, so the ``B``
campaigns are fitted together yet independently. ``init`` warm-starts a fit (the training
environment passes the previous step's hyper-parameters, so a few steps suffice once a campaign
is under way).

Cholesky factorisations use :func:`torch.linalg.cholesky_ex` with **adaptive jitter**: a campaign
whose factorisation fails is retried with 1e-6, 1e-4 then 1e-2 added to its diagonal, the others
untouched (fixed jitter fails in both precisions; see Pyro PR #3151).

Shapes: ``B`` campaigns, ``N`` observed (padded, ``mask`` ``(B, N)``), ``K`` query points, ``d``
input dimensions (padding dimensions hold zeros for every point, so they never change a distance).

Example:
    >>> import torch
    >>> X = torch.rand(2, 12, 3, dtype=torch.float64)
    >>> y = torch.sin(6 * X[..., 0]) + 0.01 * X[..., 1]
    >>> fit = fit_gp(X, y, torch.ones(2, 12, dtype=torch.bool), steps=30)
    >>> mean, var = fit.predict(torch.rand(2, 5, 3, dtype=torch.float64))
    >>> tuple(mean.shape), bool((var > 0).all())
    ((2, 5), True)
    >>> bool(fit.lengthscale[:, 0].mean() < fit.lengthscale[:, 2].mean())   # dim 0 matters most
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["KINDS", "GPFit", "fit_gp", "matern52", "standardise"]

_SQRT5 = math.sqrt(5.0)
_MIN_NOISE = 1e-4
_JITTERS = (1e-6, 1e-4, 1e-2)
_LOG_2PI = math.log(2 * math.pi)


def standardise(y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Masked standardisation of ``y`` ``(B, N)``: ``(ys, mean, std)`` with ``ys`` zero where masked."""
    n = mask.sum(-1, keepdim=True).clamp_min(1)
    mean = (y * mask).sum(-1, keepdim=True) / n
    var = (((y - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    std = var.sqrt().clamp_min(1e-9)
    return torch.where(mask, (y - mean) / std, torch.zeros_like(y)), mean, std


def matern52(a: Tensor, b: Tensor, lengthscale: Tensor) -> Tensor:
    """Matern-5/2 kernel of ``a`` ``(B, P, d)`` and ``b`` ``(B, Q, d)``, lengthscale ``(B, d)`` -> ``(B, P, Q)``."""
    ls = lengthscale[:, None, :]
    r = _SQRT5 * torch.cdist(a / ls, b / ls)
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


def _gram(X: Tensor, mask: Tensor, lengthscale: Tensor, noise: Tensor, scale: Tensor | None = None) -> Tensor:
    """``s K + noise I`` with padding rows replaced by identity rows, ``(B, N, N)``."""
    m = (mask[:, :, None] & mask[:, None, :]).to(X.dtype)
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    pad = torch.diag_embed((~mask).to(X.dtype))
    k = matern52(X, X, lengthscale)
    if scale is not None:
        k = k * scale[:, None, None]
    return k * m + eye * noise[:, None, None] * m + pad


def _cholesky(K: Tensor) -> Tensor:
    """Lower Cholesky factor of each ``(N, N)`` matrix, adding jitter only where a factorisation fails."""
    L, info = torch.linalg.cholesky_ex(K)
    eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    for jitter in _JITTERS:
        bad = info > 0
        if not bool(bad.any()):
            break
        L2, info2 = torch.linalg.cholesky_ex(K + jitter * eye)
        L = torch.where(bad[:, None, None], L2, L)
        info = torch.where(bad, info2, torch.zeros_like(info))
    return L


@dataclass(frozen=True)
class GPFit:
    """A fitted batch of GPs (all tensors detached).

    Attributes:
        X: observed inputs ``(B, N, d)``; mask: real rows ``(B, N)``; ys: standardised targets ``(B, N)``.
        lengthscale: ``(B, d)`` (padding dimensions keep their initial value); noise: ``(B,)``.
        L: Cholesky factor of ``s K + noise I`` ``(B, N, N)``; alpha: ``(s K + noise I)^-1 ys`` ``(B, N)``.
        scale: signal variance ``s`` ``(B,)`` (ones for the ARD model).
    """

    X: Tensor
    mask: Tensor
    ys: Tensor
    lengthscale: Tensor
    noise: Tensor
    L: Tensor
    alpha: Tensor
    scale: Tensor

    def predict(self, C: Tensor, extra: Tensor | None = None, extra_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Latent posterior mean and variance at ``C`` ``(B, K, d)``, each ``(B, K)``.

        With ``extra`` points ``(B, M, d)`` (pending experiments), the variance is conditioned on them
        too (their values are unknown, so the mean is unchanged: a kriging believer).
        """
        mean, var_obs, var = self.predict_pending(C, extra, extra_mask)
        return mean, var

    def predict_pending(self, C: Tensor, extra: Tensor | None = None, extra_mask: Tensor | None = None
                        ) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance given the observations only, and variance given the ``extra`` points too, each ``(B, K)``."""
        N = self.X.shape[1]
        if extra is None or extra.shape[1] == 0 or extra_mask is None or not bool(extra_mask.any()):
            none, joint, jmask = True, self.X, self.mask
        else:
            none, joint, jmask = False, torch.cat([self.X, extra], 1), torch.cat([self.mask, extra_mask], 1)
        s = self.scale[:, None]
        kj = matern52(C, joint, self.lengthscale) * jmask[:, None, :] * s[:, :, None]
        kx = kj[:, :, :N]
        mean = (kx * self.alpha[:, None, :]).sum(-1)
        v = torch.linalg.solve_triangular(self.L, kx.transpose(-1, -2), upper=False)
        var_obs = (s - (v * v).sum(-2)).clamp_min(1e-12)
        if none:
            return mean, var_obs, var_obs
        L = _cholesky(_gram(joint, jmask, self.lengthscale, self.noise, self.scale))
        vj = torch.linalg.solve_triangular(L, kj.transpose(-1, -2), upper=False)
        return mean, var_obs, (s - (vj * vj).sum(-2)).clamp_min(1e-12)

    def loo(self) -> tuple[Tensor, Tensor]:
        """Leave-one-out predictive mean and variance of each observed point (closed form), ``(B, N)``."""
        eye = torch.eye(self.X.shape[1], dtype=self.X.dtype, device=self.X.device).expand_as(self.L)
        kinv = torch.cholesky_solve(eye, self.L)
        d = torch.diagonal(kinv, dim1=-2, dim2=-1).clamp_min(1e-12)
        return self.ys - self.alpha / d, 1.0 / d

    def loo_log_likelihood(self) -> Tensor:
        """Mean leave-one-out log predictive density per observed point (standardised units), ``(B,)``."""
        mu, var = self.loo()
        ll = -0.5 * ((self.ys - mu) ** 2 / var + var.log() + _LOG_2PI)
        return (ll * self.mask).sum(-1) / self.mask.sum(-1).clamp_min(1)


def _gradient(X: Tensor, pair: Tensor, ys: Tensor, log_ls: Tensor, raw_nz: Tensor, log_os: Tensor,
              min_noise: float, ard: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form gradient of the log marginal likelihood (no prior) in the fitted parameters.

    ``d/dθ log p(y) = ½ Σ_ij (αα^T - K^-1)_ij dK_ij/dθ`` with ``α = K^-1 y``. For Matern-5/2,
    ``dk/d log ℓ_k = (5/3)(1 + r) e^-r Δ_k² / ℓ_k²``, and ``Σ_ij M_ij Δ_k²`` for a symmetric ``M``
    is ``2 Σ_i x_ik² (Σ_j M_ij) - 2 Σ_i x_ik (M X)_ik``: one matrix product, no ``(N, N, d)``
    tensor. One Cholesky and one inverse per step, where autograd through the factorisation costs
    about four times as much. The parameter clamps of :func:`fit_gp` pass no gradient outside their
    range, as ``torch.clamp`` does.

    Args:
        X: inputs ``(B, N, d)``; pair: both rows real ``(B, N, N)``; ys: standardised targets ``(B, N)``
            (zero in padding rows).
        log_ls: ``(B, d)`` (ARD) or ``(B, 1)`` (iso); raw_nz: softplus-inverse of the noise above
            ``min_noise`` ``(B,)``; log_os: log signal variance ``(B,)`` (fitted when not ``ard``).

    Returns:
        Gradients with the shapes of ``log_ls``, ``raw_nz`` and ``log_os``.
    """
    B, N, d = X.shape
    ls = log_ls.clamp(-6, 6).exp().expand(B, d)
    scale = log_os.clamp(-6, 6).exp() if not ard else torch.ones_like(raw_nz)
    noise = torch.nn.functional.softplus(raw_nz) + min_noise
    Xs = X / ls[:, None, :]
    r = _SQRT5 * torch.cdist(Xs, Xs)
    e = torch.exp(-r)
    eye = torch.eye(N, dtype=X.dtype, device=X.device)
    k = (1.0 + r + r * r / 3.0) * e * pair
    K = k * scale[:, None, None] + eye * noise[:, None, None] * pair + torch.diag_embed(1.0 - pair.diagonal(dim1=-2, dim2=-1))
    L = _cholesky(K)
    alpha = torch.cholesky_solve(ys.unsqueeze(-1), L)
    W = 0.5 * (alpha * alpha.transpose(-1, -2) - torch.cholesky_inverse(L)) * pair
    M = W * (1.0 + r) * e
    spread = 2.0 * (Xs * Xs * M.sum(-1, keepdim=True) - Xs * (M @ Xs)).sum(-2)  # Σ_ij M_ij (Δ_k / ℓ_k)², (B, d)
    dls = spread * (5.0 / 3.0) * scale[:, None]
    in_range = (log_ls >= -6) & (log_ls <= 6)
    g_ls = (dls if ard else dls.sum(-1, keepdim=True)) * in_range
    g_nz = W.diagonal(dim1=-2, dim2=-1).sum(-1) * torch.sigmoid(raw_nz)
    g_os = (W * k).sum((-1, -2)) * scale * ((log_os >= -6) & (log_os <= 6)) if not ard else torch.zeros_like(raw_nz)
    return g_ls, g_nz, g_os


KINDS = ("ard", "iso")


def fit_gp(X: Tensor, y: Tensor, mask: Tensor, *, dims: Tensor | None = None, steps: int = 60, lr: float = 0.08,
           init: tuple[Tensor, ...] | None = None, kind: str = "ard") -> GPFit:
    """Fit ``B`` GPs (see the module docstring for the two ``kind``\ s).

    Long by design: both kinds share the batched optimisation loop and its adaptive jitter.

    Args:
        X: inputs in the unit cube ``(B, N, d)``; y: targets (larger is better) ``(B, N)``; mask: ``(B, N)``.
        dims: true dimension per campaign ``(B,)`` (the first ``dims[b]`` columns are real; default ``d``).
        steps: Adam steps; lr: Adam learning rate on the log hyper-parameters.
        init: ``(lengthscale (B, d), noise (B,)[, signal variance (B,)])`` to start from (default: see above).
        kind: ``"ard"`` or ``"iso"``.

    Returns:
        The fitted GPs.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    B, _, d = X.shape
    ard = kind == "ard"
    min_noise = _MIN_NOISE if ard else 1e-6
    dims = dims if dims is not None else torch.full((B,), d, device=X.device)
    dim_mask = (torch.arange(d, device=X.device)[None, :] < dims[:, None]).to(X.dtype)
    ys, _, _ = standardise(y, mask)
    if init is None:
        mode = math.sqrt(2.0) + 0.5 * dims.to(X.dtype).log() - 3.0 if ard else torch.zeros(B, dtype=X.dtype, device=X.device)
        log_ls0 = mode[:, None].expand(B, d if ard else 1).clone()
        log_nz0 = torch.full((B,), math.log(1e-2), dtype=X.dtype, device=X.device)
        log_os0 = torch.zeros(B, dtype=X.dtype, device=X.device)
    else:
        log_ls0 = init[0].log().clone() if ard else init[0][:, :1].log().clone()
        log_nz0 = init[1].clamp_min(min_noise * 1.0001).log().clone()
        log_os0 = init[2].log().clone() if len(init) > 2 else torch.zeros(B, dtype=X.dtype, device=X.device)
    log_ls, log_os = log_ls0.detach().clone(), log_os0.detach().clone()
    raw_nz = torch.log(torch.expm1(log_nz0.exp() - min_noise)).detach()
    prior_loc = math.sqrt(2.0) + 0.5 * dims.to(X.dtype).log()
    n = mask.sum(-1).clamp_min(1).to(X.dtype)

    def hyper() -> tuple[Tensor, Tensor, Tensor]:
        ls = log_ls.clamp(-6, 6).exp()
        return (ls if ard else ls.expand(B, d)), torch.nn.functional.softplus(raw_nz) + min_noise, log_os.clamp(-6, 6).exp()

    if steps > 0:
        opt = torch.optim.Adam([log_ls, raw_nz, *([] if ard else [log_os])], lr=lr)
        pair = (mask[:, :, None] & mask[:, None, :]).to(X.dtype)
        for _ in range(steps):
            with torch.no_grad():
                g_ls, g_nz, g_os = _gradient(X, pair, ys, log_ls, raw_nz, log_os, min_noise, ard)
                if ard:
                    g_ls = g_ls + -(log_ls - prior_loc[:, None]) / 3.0 * dim_mask
                    noise = torch.nn.functional.softplus(raw_nz) + min_noise
                    g_nz = g_nz - (noise.log() + 4.0) / noise * torch.sigmoid(raw_nz)
            log_ls.grad, raw_nz.grad, log_os.grad = -g_ls / n[:, None], -g_nz / n, -g_os / n
            opt.step()
    with torch.no_grad():
        lengthscale, noise, scale = hyper()
        L = _cholesky(_gram(X, mask, lengthscale, noise, scale))
        alpha = torch.cholesky_solve(ys.unsqueeze(-1), L).squeeze(-1) * mask
    return GPFit(X, mask, ys, lengthscale.detach().clone(), noise.detach(), L, alpha, scale.detach())
