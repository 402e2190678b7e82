"""A batched extra-trees ensemble in plain torch: ``T`` randomised trees for each of ``B`` campaigns.

Each tree is grown on a bootstrap sample (Poisson(1) weights per point, as bagging) to a fixed
depth. At every node a feature is drawn uniformly among the campaign's real dimensions and a
threshold uniformly between the smallest and largest value of that feature among the node's
(weighted) points, Geurts et al.'s extremely randomised trees. A node with fewer than 2 distinct
weighted points, or no spread on the drawn feature, is not split (its points all go left). A
leaf predicts the weighted mean of its points. Every reachable leaf holds at least one weighted
point, because a threshold strictly inside the range leaves points on both sides.

The ensemble gives, as a random forest does (Liang et al. 2021), a predictive mean and a spread
(the standard deviation across trees) at each query point, and an **out-of-bag** prediction for
each observed point from the trees whose bootstrap left it out: a held-out fit of the ensemble
comparable with the GP's leave-one-out fit.

Everything is level by level over tensors ``(B, T, N)`` and ``(B, T, K)``, so it runs on a GPU
as well, with no Python loop over campaigns or trees.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.rand(1, 40, 2, generator=g); y = (X[..., 0] > 0.5).float()
    >>> ens = fit_trees(X, y, torch.ones(1, 40, dtype=torch.bool), torch.tensor([[[0.9, 0.1], [0.1, 0.9]]]),
    ...                 n_trees=16, generator=g)
    >>> mean = ens.mean[0]
    >>> bool(mean[0] > 0.8 and mean[1] < 0.2)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TreeEnsemble", "fit_trees"]

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class TreeEnsemble:
    """Per-tree predictions. per_tree: at the query points ``(B, T, K)``; oob: at the observed points
    ``(B, T, N)``; oob_mask: which trees left each point out ``(B, T, N)``; y, mask: ``(B, N)``."""

    per_tree: Tensor
    oob: Tensor
    oob_mask: Tensor
    y: Tensor
    mask: Tensor

    @property
    def mean(self) -> Tensor:
        """Mean across trees at the query points, ``(B, K)``."""
        return self.per_tree.mean(1)

    @property
    def std(self) -> Tensor:
        """Standard deviation across trees at the query points, ``(B, K)``."""
        return self.per_tree.std(1, unbiased=False)

    def oob_log_likelihood(self, floor: float = 0.05) -> Tensor:
        """Mean out-of-bag log density per observed point, ``(B,)``: each point's OOB trees give a mean
        and spread; the predictive variance is the spread squared plus ``floor**2`` (targets' units)."""
        w = self.oob_mask.to(self.oob.dtype)
        cnt = w.sum(1)
        mu = (self.oob * w).sum(1) / cnt.clamp_min(1)
        var = (((self.oob - mu[:, None]) ** 2) * w).sum(1) / cnt.clamp_min(1) + floor ** 2
        ll = -0.5 * ((self.y - mu) ** 2 / var + var.log() + _LOG_2PI)
        ok = self.mask & (cnt > 0)
        return (ll * ok).sum(-1) / ok.sum(-1).clamp_min(1)


def _route(flat: Tensor, base: Tensor, node: Tensor, feat: Tensor, thr: Tensor, split: Tensor) -> Tensor:
    """Next-level node of each point. ``flat``: points ``(B, P * d)`` (row-major); ``base``: ``arange(P) * d``;
    ``node`` ``(B, T, P)``; per-node ``feat``, ``thr``, ``split`` ``(B, T, n_nodes)``."""
    B, T, P = node.shape
    f = feat.gather(-1, node)
    xv = flat.gather(1, (base + f).reshape(B, T * P)).reshape(B, T, P)
    right = (xv > thr.gather(-1, node)) & split.gather(-1, node)
    return 2 * node + right.long()


def fit_trees(X: Tensor, y: Tensor, mask: Tensor, C: Tensor, *, n_trees: int = 32, depth: int = 10,
              dims: Tensor | None = None, generator: torch.Generator | None = None) -> TreeEnsemble:
    """Grow ``n_trees`` extra-trees per campaign on ``(X, y)`` and predict at ``C``.

    Args:
        X: observed inputs ``(B, N, d)``; y: targets ``(B, N)``; mask: real observations ``(B, N)``.
        C: query points ``(B, K, d)``.
        n_trees: trees per campaign; depth: levels of splits (at most ``2**depth`` leaves).
        dims: true dimension per campaign ``(B,)`` (features drawn among the first ``dims[b]``).
        generator: randomness (CPU generator; draws are moved to ``X``'s device).

    Returns:
        The ensemble's per-tree predictions.
    """
    B, N, d = X.shape
    dev, T = X.device, int(n_trees)
    dims = dims if dims is not None else torch.full((B,), d, device=dev)
    real = mask[:, None, :].to(X.dtype).expand(B, T, N)
    w = torch.poisson(torch.ones(B, T, N), generator=generator).to(dev, X.dtype) * real
    w = torch.where((w.sum(-1, keepdim=True) > 0), w, real)  # a tree whose bootstrap drew nothing uses every point
    K = C.shape[1]
    nd = torch.zeros(B, T, N, dtype=torch.long, device=dev)
    nc = torch.zeros(B, T, K, dtype=torch.long, device=dev)
    xf, cf = X.reshape(B, N * d), C.to(X.dtype).reshape(B, K * d)
    base_n = (torch.arange(N, device=dev) * d)[None, None, :]
    base_k = (torch.arange(K, device=dev) * d)[None, None, :]
    has = w > 0
    for level in range(depth):
        n_nodes = 2 ** level
        u = torch.rand(B, T, n_nodes, generator=generator).to(dev, X.dtype)
        feat = (torch.rand(B, T, n_nodes, generator=generator).to(dev) * dims[:, None, None]).long()
        feat = torch.minimum(feat, (dims[:, None, None] - 1).expand_as(feat))
        xv = xf.gather(1, (base_n + feat.gather(-1, nd)).reshape(B, T * N)).reshape(B, T, N)
        lo = torch.full((B, T, n_nodes), math.inf, dtype=X.dtype, device=dev).scatter_reduce(
            -1, nd, torch.where(has, xv, torch.full_like(xv, math.inf)), "amin")
        hi = torch.full((B, T, n_nodes), -math.inf, dtype=X.dtype, device=dev).scatter_reduce(
            -1, nd, torch.where(has, xv, torch.full_like(xv, -math.inf)), "amax")
        split = torch.isfinite(lo) & (hi > lo)
        thr = torch.where(split, lo + u * (hi - lo), torch.zeros_like(u))
        nd = _route(xf, base_n, nd, feat, thr, split)
        nc = _route(cf, base_k, nc, feat, thr, split)
    n_leaves = 2 ** depth
    wsum = torch.zeros(B, T, n_leaves, dtype=X.dtype, device=dev).scatter_add(-1, nd, w)
    ysum = torch.zeros(B, T, n_leaves, dtype=X.dtype, device=dev).scatter_add(-1, nd, w * y[:, None, :])
    leaf = ysum / wsum.clamp_min(1e-12)
    return TreeEnsemble(leaf.gather(-1, nc), leaf.gather(-1, nd), (w == 0) & mask[:, None, :], y, mask)
