"""A batched ARD Gaussian process in plain torch: many campaigns fitted and queried at once.

Two models (per campaign ``b``), both Matern-5/2 on standardised targets with homoscedastic noise:

* ``kind="ard"`` (the default; BoTorch's ``SingleTaskGP`` as qLogNEI uses it): one lengthscale per
  input dimension, unit signal variance, a MAP estimate under BoTorch's priors (lengthscale
  ``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))``, noise variance ``LogNormal(-4, 1)``, noise >= 1e-4).
* ``kind="iso"`` (GPyOpt's model, as ``gp-iso-lcb`` fits it): one lengthscale for every dimension,
  a fitted signal variance, maximum likelihood without priors (noise >= 1e-6), started from GPy's
  values (lengthscale 1, signal variance 1, noise 0.01).

Hyper-parameters are found by Adam on their logarithms. Adam is element-wise, so the ``B``
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


def _log_prior(log_ls: Tensor, log_noise: Tensor, dims: Tensor, dim_mask: Tensor) -> Tensor:
    loc = math.sqrt(2.0) + 0.5 * dims.to(log_ls.dtype).log()
    lp_ls = (-0.5 * ((log_ls - loc[:, None]) / math.sqrt(3.0)) ** 2 * dim_mask).sum(-1)
    lp_noise = -0.5 * (log_noise - (-4.0)) ** 2
    return lp_ls + lp_noise


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
    log_ls = log_ls0.detach().requires_grad_(True)
    raw_nz = torch.log(torch.expm1(log_nz0.exp() - min_noise)).detach().requires_grad_(True)
    log_os = log_os0.detach().requires_grad_(not ard)
    n = mask.sum(-1).clamp_min(1).to(X.dtype)

    def hyper() -> tuple[Tensor, Tensor, Tensor]:
        ls = log_ls.clamp(-6, 6).exp()
        return (ls if ard else ls.expand(B, d)), torch.nn.functional.softplus(raw_nz) + min_noise, log_os.clamp(-6, 6).exp()

    if steps > 0:
        opt = torch.optim.Adam([log_ls, raw_nz, *([] if ard else [log_os])], lr=lr)
        for _ in range(steps):
            lengthscale, noise, scale = hyper()
            L = _cholesky(_gram(X, mask, lengthscale, noise, scale))
            alpha = torch.cholesky_solve(ys.unsqueeze(-1), L).squeeze(-1)
            fit = -0.5 * (ys * alpha).sum(-1) - torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
            if ard:
                fit = fit + _log_prior(log_ls, noise.log(), dims, dim_mask)
            loss = -(fit / n).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        lengthscale, noise, scale = hyper()
        L = _cholesky(_gram(X, mask, lengthscale, noise, scale))
        alpha = torch.cholesky_solve(ys.unsqueeze(-1), L).squeeze(-1) * mask
    return GPFit(X, mask, ys, lengthscale.detach().clone(), noise.detach(), L, alpha, scale.detach())
