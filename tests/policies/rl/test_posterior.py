"""GP posterior features of the RL policy: exact GP agreement, padding, pending points, LogEI, hyper-parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm, rankdata

from policies.rl.posterior import (
    CAND_FEATURES,
    GLOBAL_FEATURES,
    LENGTHSCALE_GRID,
    NOISE_GRID,
    PosteriorInput,
    featurize,
    log_h,
)

F = {name: i for i, name in enumerate(CAND_FEATURES)}
G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}


def _matern52(a: np.ndarray, b: np.ndarray, ls: float) -> np.ndarray:
    r = math.sqrt(5.0) * np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1) / ls
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


def _exact_gp(X, y, P, C, ls, noise):
    """Independent closed form: mean from observed points only, variance with and without pending points."""
    ys = (y - y.mean()) / y.std()  # population std
    K = _matern52(X, X, ls) + (noise + 1e-6) * np.eye(len(X))
    ks = _matern52(X, C, ls)
    mean = ks.T @ np.linalg.solve(K, ys)
    var_obs = 1.0 - np.einsum("ik,ik->k", ks, np.linalg.solve(K, ks))
    J = np.concatenate([X, P]) if len(P) else X
    KJ = _matern52(J, J, ls) + (noise + 1e-6) * np.eye(len(J))
    kj = _matern52(J, C, ls)
    var = 1.0 - np.einsum("ik,ik->k", kj, np.linalg.solve(KJ, kj))
    return ys, mean, var_obs, var


def _lml(X, ys, ls, noise):
    K = _matern52(X, X, ls) + (noise + 1e-6) * np.eye(len(X))
    _, logdet = np.linalg.slogdet(K)
    return -0.5 * ys @ np.linalg.solve(K, ys) - 0.5 * logdet


def _close(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= atol


def _single(X, y, P, C, dims=None):
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)[None]  # noqa: E731
    d = X.shape[1]
    return PosteriorInput(t(X), t(y), torch.ones(1, len(X), dtype=torch.bool), t(P.reshape(-1, d)),
                          torch.ones(1, len(P), dtype=torch.bool), t(C), torch.ones(1, len(C), dtype=torch.bool),
                          None if dims is None else torch.tensor([dims]))


def _feat(batch, budget=0.3, ttn=0.5):
    B = batch.X.shape[0]
    return featurize(batch, torch.full((B,), budget, dtype=torch.float64), torch.full((B,), ttn, dtype=torch.float64))


def test_features_match_an_exact_gp_with_pending_points_fantasised() -> None:
    rng = np.random.default_rng(0)
    d = 3
    X = rng.random((12, d))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2] + 5.0  # offset: standardisation must remove it
    P = rng.random((2, d))
    C = np.concatenate([rng.random((18, d)), P[:1] + 1e-3, X[:1] + 2e-3])
    feats = _feat(_single(X, y, P, C))
    ls = float(feats.lengthscale[0]) * math.sqrt(d)
    noise = float(feats.noise[0])
    assert float(feats.lengthscale[0]) in LENGTHSCALE_GRID and noise in NOISE_GRID
    ys, mean, var_obs, var = _exact_gp(X, y, P, C, ls, noise)
    got = feats.candidates[0].numpy()
    np.testing.assert_allclose(got[:, F["mean"]], mean, atol=1e-6)
    np.testing.assert_allclose(got[:, F["log_std"]], 0.5 * np.log(var), atol=1e-5)
    np.testing.assert_allclose(got[:, F["std_ratio"]], np.sqrt(var / var_obs), atol=1e-5)
    std = np.sqrt(var)
    z = (mean - ys.max()) / std
    np.testing.assert_allclose(got[:, F["z"]], np.clip(z, -10, 10) / 5, atol=1e-5)
    ei = std * (norm.pdf(z) + z * norm.cdf(z))
    ok = z > -3.5  # where the closed form is accurate in float64
    assert ok.sum() >= 3
    np.testing.assert_allclose(feats.log_ei[0].numpy()[ok], np.log(ei[ok]), atol=1e-6)
    np.testing.assert_array_equal(got[:, F["log_ei_rank"]], (rankdata(-feats.log_ei[0].numpy(), method="ordinal") - 1) / (len(C) - 1))
    dist_obs = np.linalg.norm(C[:, None] - X[None], axis=-1).min(-1) / math.sqrt(d)
    dist_pend = np.linalg.norm(C[:, None] - P[None], axis=-1).min(-1) / math.sqrt(d)
    np.testing.assert_allclose(got[:, F["dist_observed"]], np.minimum(dist_obs, 1), atol=1e-9)
    np.testing.assert_allclose(got[:, F["dist_pending"]], np.minimum(dist_pend, 1), atol=1e-9)
    glob = feats.globals[0].numpy()
    assert glob[G["budget_used"]] == pytest.approx(0.3) and glob[G["budget_left"]] == pytest.approx(0.7)
    assert glob[G["pending"]] == pytest.approx(2 / 8) and glob[G["observed"]] == pytest.approx(12 / 50)
    assert glob[G["time_to_next"]] == pytest.approx(0.5) and glob[G["dim"]] == pytest.approx(0.3)


def test_hyper_parameters_maximise_the_marginal_likelihood_over_the_grid() -> None:
    rng = np.random.default_rng(3)
    for d, n in ((1, 10), (2, 15), (4, 20)):
        X = rng.random((n, d))
        y = np.cos(4 * X.sum(-1)) + 0.1 * rng.standard_normal(n)
        feats = _feat(_single(X, y, np.zeros((0, d)), rng.random((5, d))))
        ys = (y - y.mean()) / y.std()
        fits = {(ls, nz): _lml(X, ys, ls * math.sqrt(d), nz) for ls in LENGTHSCALE_GRID for nz in NOISE_GRID}
        chosen = (float(feats.lengthscale[0]), float(feats.noise[0]))
        assert fits[chosen] >= max(fits.values()) - 1e-6


def test_rough_function_gets_a_shorter_lengthscale_than_a_smooth_one() -> None:
    X = np.linspace(0, 1, 30)[:, None]
    C = np.random.default_rng(1).random((8, 1))
    rough = _feat(_single(X, np.sin(2 * np.pi * 8 * X[:, 0]), np.zeros((0, 1)), C))  # period 1/8
    smooth = _feat(_single(X, X[:, 0] + 0.3 * X[:, 0] ** 2, np.zeros((0, 1)), C))
    assert float(rough.lengthscale[0]) <= 0.125
    assert float(smooth.lengthscale[0]) >= 0.4
    assert float(smooth.noise[0]) == min(NOISE_GRID)  # a noiseless smooth function is explained without noise
    white = _feat(_single(X, np.random.default_rng(2).standard_normal(30), np.zeros((0, 1)), C))
    assert float(white.noise[0]) == max(NOISE_GRID)  # pure noise is explained as noise


def test_padding_does_not_change_the_real_candidates_features() -> None:
    rng = np.random.default_rng(5)
    d, N, M, K = 2, 8, 2, 12
    X, P, C = rng.random((N, d)), rng.random((M, d)), rng.random((K, d))
    y = np.sin(4 * X[:, 0]) * X[:, 1]
    ref = _feat(_single(X, y, P, C))

    # padded: one more dimension (zeros, dims=2), masked slots: 3 observed, 2 pending, 5 candidates, all placed
    # right at real candidates (where they would change the features most if they leaked in)
    def pad(a, junk):
        real = np.concatenate([a, np.zeros((len(a), 1))], 1)
        return torch.as_tensor(np.concatenate([real, np.concatenate([junk, np.zeros((len(junk), 1))], 1)]))

    Xp, Pp, Cp = pad(X, C[[0, 1, 2]] + 1e-3), pad(P, C[[3, 4]]), pad(C, C[[5, 6, 7, 8, 9]])
    yp = torch.as_tensor(np.concatenate([y, [1e3, -1e3, 50.0]]))
    other = torch.rand(N + 3, d + 1, dtype=torch.float64)
    batch = PosteriorInput(
        torch.stack([Xp, other]), torch.stack([yp, other.sum(-1)]),
        torch.tensor([[True] * N + [False] * 3, [True] * (N + 3)]),
        torch.stack([Pp, torch.rand(M + 2, d + 1, dtype=torch.float64)]),
        torch.tensor([[True] * M + [False] * 2, [False] * (M + 2)]),
        torch.stack([Cp, torch.rand(K + 5, d + 1, dtype=torch.float64)]),
        torch.tensor([[True] * K + [False] * 5, [True] * (K + 5)]),
        torch.tensor([2, 3]))
    feats = _feat(batch)
    _close(feats.candidates[0, :K], ref.candidates[0], 1e-8)
    _close(feats.globals[0], ref.globals[0], 1e-12)
    _close(feats.log_ei[0, :K], ref.log_ei[0], 1e-8)
    assert feats.lengthscale[0] == ref.lengthscale[0] and feats.noise[0] == ref.noise[0]
    assert (feats.candidates[0, K:] == 0).all() and torch.isneginf(feats.log_ei[0, K:]).all()


def test_a_pending_point_keeps_the_mean_and_shrinks_the_std_only_near_it() -> None:
    X = np.linspace(0.0, 0.4, 7)[:, None]
    y = np.sin(5 * X[:, 0])
    pend = np.array([[0.9]])
    C = np.array([[0.9], [0.85], [0.2], [0.05]])
    without = _feat(_single(X, y, np.zeros((0, 1)), C)).candidates[0]
    withp = _feat(_single(X, y, pend, C)).candidates[0]
    _close(withp[:, F["mean"]], without[:, F["mean"]], 1e-12)
    ratio = withp[:, F["std_ratio"]]
    assert (ratio <= 1 + 1e-9).all()  # conditioning on more points never adds variance
    assert ratio[0] < 0.5 and ratio[1] < ratio[2]  # at and near the pending point
    assert ratio[2] > 0.99 and ratio[3] > 0.99  # amid the observed points, far from it
    assert (withp[:, F["log_std"]] <= without[:, F["log_std"]] + 1e-9).all()
    assert (without[:, F["std_ratio"]] == 1).all()
    assert withp[0, F["dist_pending"]] == 0 and withp[2, F["dist_pending"]] == pytest.approx(0.7)


def _log_h_reference(z: torch.Tensor) -> torch.Tensor:
    """Exact log(phi(z) + z Phi(z)) in float64 via erfcx (no cancellation of exponentials)."""
    return -0.5 * z * z + torch.log(1 / math.sqrt(2 * math.pi) + z / 2 * torch.special.erfcx(-z / math.sqrt(2)))


def test_log_h_matches_the_closed_form_above_minus_four() -> None:
    z = torch.linspace(-3.99, 5.0, 900, dtype=torch.float64)
    zs = z.numpy()
    closed = np.log(norm.pdf(zs) + zs * norm.cdf(zs))
    np.testing.assert_allclose(log_h(z).numpy(), closed, rtol=0, atol=1e-9)


def test_log_h_is_finite_and_increasing_in_the_tail() -> None:
    z = torch.linspace(-40.0, -4.0, 3601, dtype=torch.float64)
    v = log_h(z)
    assert torch.isfinite(v).all()
    assert (v.diff() > 0).all()
    # the truncated asymptotic series is within about its next term, 105 / z**6, of the exact value
    assert ((v - _log_h_reference(z)).abs() < 2 * 105 / z**6).all()


def test_log_h_is_accurate_and_monotone_across_the_switch_at_minus_four() -> None:
    z = torch.linspace(-6.0, -2.0, 4001, dtype=torch.float64)
    v = log_h(z)
    assert (v.diff() > 0).all()
    assert (v - _log_h_reference(z)).abs().max() < 1e-3


def test_hyper_parameter_choice_does_not_depend_on_the_grid_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import policies.rl.posterior as post

    gen = torch.Generator().manual_seed(3)
    X = torch.rand(3, 12, 2, generator=gen, dtype=torch.float64)
    y = torch.sin(6 * X[..., 0]) + 0.1 * torch.randn(3, 12, generator=gen, dtype=torch.float64)
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 8:] = False
    dims = torch.full((3,), 2)
    whole = post._select_hyper(X, y, mask, dims)
    monkeypatch.setattr(post, "_GRID_CHUNK_ELEMENTS", 1)  # one grid point at a time
    chunked = post._select_hyper(X, y, mask, dims)
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])
