"""The network's evidence: surrogate features are scale-free, pending-aware and padding-proof; teachers."""

from __future__ import annotations

import math

import torch

from policies.rl.evidence import (
    CAND_FEATURES,
    GLOBAL_FEATURES,
    TEACHERS,
    EvidenceInput,
    FitSettings,
    featurize,
)

F = {name: i for i, name in enumerate(CAND_FEATURES)}
G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}


def _batch(X, y, C, P=None, cand_mask=None):
    B, N, d = X.shape
    P = torch.zeros(B, 0, d, dtype=X.dtype) if P is None else P
    return EvidenceInput(X, y, torch.ones(B, N, dtype=torch.bool), P, torch.ones(B, P.shape[1], dtype=torch.bool), C,
                         torch.ones(B, C.shape[1], dtype=torch.bool) if cand_mask is None else cand_mask)


def _feats(batch, seed=0):
    return featurize(batch, settings=FitSettings(gp_steps=30, trees=16), generator=torch.Generator().manual_seed(seed))


def _data(seed=0, n=15, k=40, d=2):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(1, n, d, generator=g, dtype=torch.float64)
    C = torch.rand(1, k, d, generator=g, dtype=torch.float64)
    return X, torch.sin(5 * X[..., 0]) + X[..., 1], C


def test_features_do_not_change_with_the_objectives_scale_or_offset() -> None:
    X, y, C = _data()
    a = _feats(_batch(X, y, C))
    b = _feats(_batch(X, 1e4 * y - 300.0, C))
    ranks = [F[c] for c in CAND_FEATURES if c.endswith("_rank")]
    others = [i for i in range(len(CAND_FEATURES)) if i not in ranks]
    torch.testing.assert_close(a.candidates[..., others], b.candidates[..., others], atol=1e-6, rtol=0)
    # equal tree predictions may swap places after rounding: at most one rank step apart
    assert float((a.candidates[..., ranks] - b.candidates[..., ranks]).abs().max()) <= 1.01 / 39
    torch.testing.assert_close(a.globals, b.globals, atol=1e-6, rtol=0)
    assert torch.equal(a.teachers, b.teachers)


def test_teachers_are_the_argmax_of_their_acquisitions_over_allowed_candidates() -> None:
    X, y, C = _data(1)
    mask = torch.ones(1, 40, dtype=torch.bool)
    mask[0, ::2] = False
    f = _feats(_batch(X, y, C, cand_mask=mask))
    assert len(TEACHERS) == f.teachers.shape[1] == 4
    assert mask[0, f.teachers[0]].all()
    for j, col in enumerate(("gp_ei_rank", "tr_ei_rank", "gp_ucb_rank", "iso_ucb_rank")):
        assert int(f.candidates[0, :, F[col]].argmax()) == int(f.teachers[0, j])
    assert (f.candidates[0, ~mask[0]] == 0).all()


def test_a_pending_point_shrinks_the_gp_spread_near_it_only() -> None:
    X, y, _ = _data(2)
    C = torch.tensor([[[0.95, 0.95], [0.9, 0.9], [0.5, 0.5]]], dtype=torch.float64)
    P = torch.tensor([[[0.95, 0.95]]], dtype=torch.float64)
    without = _feats(_batch(X, y, C)).candidates[0]
    withp = _feats(_batch(X, y, C, P)).candidates[0]
    torch.testing.assert_close(withp[:, F["gp_mean"]], without[:, F["gp_mean"]])
    ratio = withp[:, F["std_ratio"]]
    assert ratio[0] < 0.5 and ratio[0] < ratio[1] and ratio[2] > 0.9
    assert float(withp[0, F["dist_pending"]]) == 0.0


def test_padding_candidates_and_observations_do_not_change_the_real_ones() -> None:
    X, y, C = _data(3)
    alone = _feats(_batch(X, y, C))
    Xp = torch.cat([X, torch.full((1, 4, 2), 0.5, dtype=torch.float64)], 1)
    yp = torch.cat([y, torch.full((1, 4), 50.0, dtype=torch.float64)], 1)
    Cp = torch.cat([C, torch.rand(1, 6, 2, dtype=torch.float64)], 1)
    obs = torch.ones(1, 19, dtype=torch.bool)
    obs[0, 15:] = False
    cm = torch.ones(1, 46, dtype=torch.bool)
    cm[0, 40:] = False
    padded = featurize(EvidenceInput(Xp, yp, obs, torch.zeros(1, 0, 2, dtype=torch.float64),
                                     torch.zeros(1, 0, dtype=torch.bool), Cp, cm),
                       settings=FitSettings(gp_steps=30, trees=16), generator=torch.Generator().manual_seed(0))
    gp_cols = [F[c] for c in CAND_FEATURES if c.startswith("gp_")]
    torch.testing.assert_close(padded.candidates[0, :40, gp_cols], alone.candidates[0, :, gp_cols])
    torch.testing.assert_close(padded.gp_loo, alone.gp_loo)
    assert (padded.candidates[0, 40:] == 0).all()


def test_global_features_count_observations_pending_and_the_wait_since_the_best() -> None:
    X, y, C = _data(4, n=10)
    y[0, 2] = 10.0  # the best is the third of ten observations
    P = torch.rand(1, 3, 2, dtype=torch.float64)
    f = _feats(_batch(X, y, C, P))
    g = f.globals[0]
    assert abs(float(g[G["observed"]]) - math.log1p(10) / 5) < 1e-12
    assert abs(float(g[G["pending"]]) - math.log1p(3) / 2) < 1e-12
    assert abs(float(g[G["since_improved"]]) - 0.7) < 1e-9
    assert abs(float(g[G["tried_fraction"]]) - 13 / 53) < 1e-9
    assert len(GLOBAL_FEATURES) == f.globals.shape[1]


def test_the_better_fitting_surrogate_has_the_higher_held_out_density() -> None:
    g = torch.Generator().manual_seed(5)
    X = torch.rand(1, 40, 2, generator=g, dtype=torch.float64)
    smooth = torch.sin(3 * X[..., 0])
    steps = torch.where(X[..., 0] > 0.5, 1.0, -1.0).to(torch.float64) * torch.where(X[..., 1] > 0.3, 1.0, 0.2)
    C = torch.rand(1, 10, 2, generator=g, dtype=torch.float64)
    a = _feats(_batch(X, smooth, C))
    b = _feats(_batch(X, steps, C))
    assert float(a.gp_loo - a.tr_oob) > float(b.gp_loo - b.tr_oob)
