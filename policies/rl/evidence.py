"""What the acquisition network sees: the evidence of two surrogates, made scale-free.

Many campaigns (environments) are featurised at once. Each has observed points ``X`` with values
``y``, pending points (in flight, value unknown) and candidates, padded to common sizes with
boolean masks. Two surrogates are fitted to every campaign:

* an **ARD GP** (:mod:`policies.surrogates.gp`, qLogNEI's model): posterior mean and standard
  deviation, with pending experiments fantasised (they shrink the standard deviation, not the mean:
  a kriging believer);
* an **isotropic GP** fitted by maximum likelihood (GP-LCB's model, Liang et al.'s benchmark GP);
* an **extra-trees ensemble** (:mod:`policies.surrogates.trees`): mean and spread across trees.

Per candidate (``CAND_FEATURES``, ``(B, K, F)``): under each surrogate the standardised mean, log
spread, LogEI over the best observed value and the quantile ranks (:func:`quantile_rank`, 1 best)
of mean, spread, EI and UCB (``mean + 2 std``); how much the two surrogates disagree on the mean's
rank; how much the pending experiments shrank the GP spread; distances to the nearest observed
and pending point; and each acquisition's gap to its best candidate (``HEDGE_FEATURES``: 0 at
that acquisition's pick, so following a teacher is one weight away). Ranks, gaps and z-scores
keep every objective on one scale.

Per campaign (``GLOBAL_FEATURES``, ``(B, G)``): observations and pending experiments, time to the
next result, dimension, share of the candidates already used, how long since the best value last
improved, how far the best stands above the rest, and the surrogates' **held-out fits** (GP
leave-one-out and trees' out-of-bag log density per point) with the GP's lengthscales and noise:
what lets the policy tell which surrogate to trust on this campaign.

The four **teachers** (``TEACHERS``) are the picks of the classic acquisitions on the same
evidence: ARD GP LogEI (qLogNEI's pick for ``q = 1``), trees' EI (RF-EI), ARD GP UCB and
isotropic GP UCB (GP-LCB).

Example:
    >>> import torch
    >>> X = torch.rand(2, 6, 3, dtype=torch.float64); y = X.sum(-1)
    >>> batch = EvidenceInput(X, y, torch.ones(2, 6, dtype=torch.bool), torch.zeros(2, 0, 3, dtype=torch.float64),
    ...                       torch.zeros(2, 0, dtype=torch.bool), torch.rand(2, 7, 3, dtype=torch.float64),
    ...                       torch.ones(2, 7, dtype=torch.bool))
    >>> feats = featurize(batch, generator=torch.Generator().manual_seed(0))
    >>> tuple(feats.candidates.shape) == (2, 7, len(CAND_FEATURES)), tuple(feats.teachers.shape)
    (True, (2, 4))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from policies.surrogates.acquisition import log_ei, quantile_rank, ucb
from policies.surrogates.gp import GPFit, fit_gp, standardise
from policies.surrogates.trees import fit_trees

__all__ = ["CAND_FEATURES", "FEATURE_SET", "GLOBAL_FEATURES", "HEDGE_FEATURES", "TEACHERS", "EvidenceInput", "Features",
           "FitSettings", "featurize"]

#: Identifies this feature layout; a policy file trained on another layout is refused.
FEATURE_SET = "evidence-4"
CAND_FEATURES = ("gp_mean", "gp_log_std", "gp_log_ei", "gp_mean_rank", "gp_std_rank", "gp_ei_rank", "gp_ucb_rank",
                 "tr_mean", "tr_log_std", "tr_log_ei", "tr_mean_rank", "tr_std_rank", "tr_ei_rank", "tr_ucb_rank",
                 "iso_mean", "iso_log_std", "iso_mean_rank", "iso_ucb_rank",
                 "rank_disagreement", "std_ratio", "dist_observed", "dist_pending",
                 "gp_ei_gap", "tr_ei_gap", "gp_ucb_gap", "tr_ucb_gap", "iso_ucb_gap", "iso_ei_gap")
#: The acquisitions' gaps to their best candidate (0 at the teacher's pick, negative elsewhere): what
#: the network's hedge head weighs (:class:`policies.rl.network.AcquisitionNet`).
HEDGE_FEATURES = ("gp_ei_gap", "tr_ei_gap", "gp_ucb_gap", "tr_ucb_gap", "iso_ucb_gap", "iso_ei_gap")
GLOBAL_FEATURES = ("observed", "pending", "time_to_next", "dim", "tried_fraction", "since_improved", "best_z",
                   "gp_loo", "tr_oob", "loo_difference", "gp_log_lengthscale", "gp_min_log_lengthscale",
                   "gp_log_noise", "iso_loo", "iso_log_lengthscale", "iso_log_noise", "iso_log_scale")
TEACHERS = ("gp-logei", "trees-ei", "gp-ucb", "iso-ucb")
_UCB_LAMBDA = 2.0


@dataclass(frozen=True)
class FitSettings:
    """How hard the surrogates are fitted. gp_steps: Adam steps of the GP fit (from ``gp_init`` when
    given, else from the prior's mode); trees, depth: the ensemble's size."""

    gp_steps: int = 60
    trees: int = 32
    depth: int = 8


@dataclass(frozen=True)
class EvidenceInput:
    """Padded campaigns. ``B`` campaigns, ``N`` observed, ``M`` pending, ``K`` candidates, ``d`` dims.

    Attributes:
        X: observed inputs ``(B, N, d)`` in ``[0, 1]``; y: their values (larger is better) ``(B, N)``.
        obs_mask: real observed slots ``(B, N)``; pending: ``(B, M, d)``; pending_mask: ``(B, M)``.
        candidates: ``(B, K, d)``; cand_mask: allowed candidates ``(B, K)``.
        dims: true dimension per campaign ``(B,)`` (default ``d``).
        time_to_next: time to the next pending result over the longest wait, ``(B,)`` in ``[0, 1]``.
        order: observation order of each observed slot ``(B, N)`` (for "since improved"; default slot order).
    """

    X: Tensor
    y: Tensor
    obs_mask: Tensor
    pending: Tensor
    pending_mask: Tensor
    candidates: Tensor
    cand_mask: Tensor
    dims: Tensor | None = None
    time_to_next: Tensor | None = None
    order: Tensor | None = None


@dataclass(frozen=True)
class Features:
    """Network inputs and what else a caller needs.

    Attributes:
        candidates: ``(B, K, F)``; globals: ``(B, G)``; teachers: the teachers' picks ``(B, 3)``.
        gp_lengthscale: ``(B, d)``; gp_noise: ``(B,)`` (warm start for the next fit, guardrail ranges).
        gp_loo, tr_oob: held-out log density per point ``(B,)``.
        iso_fit: the isotropic GP's ``(lengthscale (B, d), noise (B,), signal variance (B,))`` (warm start).
    """

    candidates: Tensor
    globals: Tensor
    teachers: Tensor
    gp_lengthscale: Tensor
    gp_noise: Tensor
    gp_loo: Tensor
    tr_oob: Tensor
    iso_fit: tuple[Tensor, Tensor, Tensor] | None = None


def _min_dist(C: Tensor, P: Tensor, mask: Tensor, scale: Tensor) -> Tensor:
    if P.shape[1] == 0:
        return torch.ones(C.shape[:2], dtype=C.dtype, device=C.device)
    d = torch.cdist(C, P).masked_fill(~mask[:, None, :], math.inf).amin(-1) / scale[:, None]
    return torch.where(torch.isfinite(d), d, torch.ones_like(d)).clamp(max=1.0)


def _gap(score: Tensor, mask: Tensor, scale: float) -> Tensor:
    """``(score - best allowed score) / scale`` clipped to ``[-4, 0]``: 0 at the acquisition's pick, ``(B, K)``.
    LogEI gaps are in nats (scale 5), UCB gaps in standard deviations of the targets (scale 1)."""
    best = score.masked_fill(~mask, -math.inf).amax(-1, keepdim=True)
    return ((score - best) / scale).clamp(-4.0, 0.0)


def _since_improved(ys: Tensor, mask: Tensor, order: Tensor) -> Tensor:
    """Observations since the best one, over observations, ``(B,)`` in ``[0, 1]``."""
    best_slot = ys.masked_fill(~mask, -math.inf).argmax(-1, keepdim=True)
    best_order = order.gather(-1, best_slot).squeeze(-1).to(ys.dtype)
    last = order.masked_fill(~mask, -1).amax(-1).to(ys.dtype)
    n = mask.sum(-1).to(ys.dtype).clamp_min(1)
    return ((last - best_order) / n).clamp(0.0, 1.0)


def featurize(batch: EvidenceInput, *, settings: FitSettings = FitSettings(),
              gp_init: tuple[Tensor, Tensor] | None = None, iso_init: tuple[Tensor, Tensor, Tensor] | None = None,
              generator: torch.Generator | None = None) -> Features:
    """Candidate and global features of each campaign (every campaign needs an observed point).

    Long by design: the features are assembled in the order of :data:`CAND_FEATURES` and
    :data:`GLOBAL_FEATURES`, so that a reader can check one against the other.

    Args:
        batch: the padded campaigns.
        settings: surrogate fitting effort; gp_init, iso_init: hyper-parameters to start the ARD and
            isotropic GP fits from (see :attr:`Features.gp_lengthscale`, :attr:`Features.iso_fit`).
        generator: randomness of the trees.
    """
    X, C, om, cm = batch.X, batch.candidates, batch.obs_mask, batch.cand_mask
    B, N, d = X.shape
    dims = batch.dims if batch.dims is not None else torch.full((B,), d, device=X.device)
    scale = dims.to(X.dtype).sqrt()
    ys, _, _ = standardise(batch.y.to(X.dtype), om)
    gp: GPFit = fit_gp(X, ys, om, dims=dims, steps=settings.gp_steps, init=gp_init)
    g_mean, g_var_obs, g_var = gp.predict_pending(C, batch.pending, batch.pending_mask)
    g_std = g_var.sqrt()
    best = ys.masked_fill(~om, -math.inf).amax(-1)
    g_ei = log_ei(g_mean, g_std, best)
    trees = fit_trees(X, ys, om, C, n_trees=settings.trees, depth=settings.depth, dims=dims, generator=generator)
    t_mean, t_std = trees.mean, trees.std.clamp_min(1e-3)
    t_ei = log_ei(t_mean, t_std, best)
    g_ucb, t_ucb = ucb(g_mean, g_std, _UCB_LAMBDA), ucb(t_mean, t_std, _UCB_LAMBDA)
    iso: GPFit = fit_gp(X, ys, om, dims=dims, steps=settings.gp_steps, init=iso_init, kind="iso")
    i_mean, _, i_var = iso.predict_pending(C, batch.pending, batch.pending_mask)
    i_std = i_var.sqrt()
    i_ucb, i_ei = ucb(i_mean, i_std, _UCB_LAMBDA), log_ei(i_mean, i_std, best)
    ranks = {name: quantile_rank(score, cm) for name, score in (
        ("gm", g_mean), ("gs", g_std), ("ge", g_ei), ("gu", g_ucb), ("tm", t_mean), ("ts", t_std), ("te", t_ei),
        ("tu", t_ucb), ("im", i_mean), ("iu", i_ucb))}
    feats = torch.stack([
        g_mean.clamp(-5, 5) / 2, g_std.log().clamp(-10, 2) / 4, g_ei.clamp_min(-30.0) / 10, ranks["gm"], ranks["gs"],
        ranks["ge"], ranks["gu"],
        t_mean.clamp(-5, 5) / 2, t_std.log().clamp(-10, 2) / 4, t_ei.clamp_min(-30.0) / 10, ranks["tm"], ranks["ts"],
        ranks["te"], ranks["tu"],
        i_mean.clamp(-5, 5) / 2, i_std.log().clamp(-10, 2) / 4, ranks["im"], ranks["iu"],
        (ranks["gm"] - ranks["tm"]).abs(), (g_var / g_var_obs).sqrt(), _min_dist(C, X, om, scale),
        _min_dist(C, batch.pending, batch.pending_mask, scale),
        _gap(g_ei, cm, 5.0), _gap(t_ei, cm, 5.0), _gap(g_ucb, cm, 1.0), _gap(t_ucb, cm, 1.0), _gap(i_ucb, cm, 1.0),
        _gap(i_ei, cm, 5.0),
    ], -1)
    feats = torch.where(cm.unsqueeze(-1), feats, torch.zeros_like(feats))
    teachers = torch.stack([s.masked_fill(~cm, -math.inf).argmax(-1) for s in (g_ei, t_ei, g_ucb, i_ucb)], -1)
    n_obs = om.sum(-1).to(X.dtype)
    n_pend = batch.pending_mask.sum(-1).to(X.dtype)
    n_cand = cm.sum(-1).to(X.dtype)
    order = batch.order if batch.order is not None else torch.arange(N, device=X.device).expand(B, N)
    ttn = batch.time_to_next if batch.time_to_next is not None else torch.zeros(B, dtype=X.dtype, device=X.device)
    dim_mask = torch.arange(d, device=X.device)[None, :] < dims[:, None]
    log_ls = (gp.lengthscale.log() / scale[:, None]).masked_fill(~dim_mask, 0.0)
    mean_log_ls = (gp.lengthscale.log() * dim_mask).sum(-1) / dims.to(X.dtype) - scale.log()
    gp_loo, tr_oob = gp.loo_log_likelihood(), trees.oob_log_likelihood()
    glob = torch.stack([
        torch.log1p(n_obs) / 5, torch.log1p(n_pend) / 2, ttn.to(X.dtype), dims.to(X.dtype) / 10,
        (n_obs + n_pend) / (n_obs + n_pend + n_cand).clamp_min(1), _since_improved(ys, om, order),
        best.clamp(-5, 5) / 3, gp_loo.clamp(-5, 3) / 2, tr_oob.clamp(-5, 3) / 2, (gp_loo - tr_oob).clamp(-5, 5) / 2,
        mean_log_ls / 2, log_ls.masked_fill(~dim_mask, math.inf).amin(-1).clamp(-6, 3) / 2,
        gp.noise.log10() / 4, iso.loo_log_likelihood().clamp(-5, 3) / 2,
        (iso.lengthscale[:, 0].log() - scale.log()).clamp(-6, 3) / 2, iso.noise.log10() / 6,
        iso.scale.log().clamp(-6, 6) / 3,
    ], -1)
    return Features(feats, glob, teachers, gp.lengthscale, gp.noise, gp_loo, tr_oob,
                    (iso.lengthscale, iso.noise, iso.scale))
