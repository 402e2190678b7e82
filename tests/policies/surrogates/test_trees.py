"""The batched extra-trees ensemble: fits steps, bootstrap and out-of-bag, padding, reachable leaves."""

from __future__ import annotations

import torch

from policies.surrogates.trees import fit_trees


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_step_function_is_recovered_away_from_the_step() -> None:
    g = _g()
    X = torch.rand(1, 60, 3, generator=g, dtype=torch.float64)
    y = torch.where(X[..., 1] > 0.5, 1.0, 0.0).to(torch.float64)
    C = torch.rand(1, 200, 3, generator=g, dtype=torch.float64)
    ens = fit_trees(X, y, torch.ones(1, 60, dtype=torch.bool), C, n_trees=32, generator=g)
    truth = (C[0, :, 1] > 0.5).double()
    far = (C[0, :, 1] - 0.5).abs() > 0.15
    assert float((ens.mean[0][far] - truth[far]).abs().mean()) < 0.15
    # the spread across trees is largest near the step
    assert float(ens.std[0][~far].mean()) > float(ens.std[0][far].mean())


def test_predictions_stay_within_the_observed_range_and_leaves_are_never_empty() -> None:
    g = _g(1)
    X = torch.rand(4, 9, 2, generator=g, dtype=torch.float64)
    y = torch.randn(4, 9, generator=g, dtype=torch.float64)
    C = torch.rand(4, 50, 2, generator=g, dtype=torch.float64) * 3 - 1  # also far outside the data
    ens = fit_trees(X, y, torch.ones(4, 9, dtype=torch.bool), C, n_trees=16, depth=6, generator=g)
    lo, hi = y.amin(-1, keepdim=True)[:, None], y.amax(-1, keepdim=True)[:, None]
    assert ((ens.per_tree >= lo - 1e-12) & (ens.per_tree <= hi + 1e-12)).all()


def test_out_of_bag_points_were_left_out_by_their_trees() -> None:
    g = _g(2)
    X = torch.rand(1, 30, 2, generator=g, dtype=torch.float64)
    y = torch.randn(1, 30, generator=g, dtype=torch.float64)
    ens = fit_trees(X, y, torch.ones(1, 30, dtype=torch.bool), X, n_trees=32, depth=12, generator=g)
    oob = ens.oob_mask[0]
    assert 0.2 < float(oob.double().mean()) < 0.55  # Poisson(1) bootstrap leaves out about 37%
    # a deep tree reproduces the points it was grown on, not the ones it left out
    inbag = ~oob
    assert float((ens.per_tree[0][inbag] - y[0].expand(32, 30)[inbag]).abs().max()) < 1e-9
    assert torch.isfinite(ens.oob_log_likelihood()).all()


def test_padding_observations_and_dimensions_are_ignored() -> None:
    g = _g(3)
    X = torch.rand(1, 20, 2, generator=g, dtype=torch.float64)
    y = X[..., 0].clone()
    Xp = torch.cat([X, torch.full((1, 20, 1), 7.0, dtype=torch.float64)], -1)  # a padding dimension
    Xp = torch.cat([Xp, torch.full((1, 5, 3), 0.5, dtype=torch.float64)], 1)
    yp = torch.cat([y, torch.full((1, 5), 100.0, dtype=torch.float64)], 1)
    mask = torch.ones(1, 25, dtype=torch.bool)
    mask[0, 20:] = False
    C = torch.rand(1, 40, 3, generator=g, dtype=torch.float64)
    ens = fit_trees(Xp, yp, mask, C, n_trees=8, dims=torch.tensor([2]), generator=g)
    assert float(ens.per_tree.max()) <= 1.0  # the padded value 100 never reaches a leaf
