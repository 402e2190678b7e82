"""The batched ARD GP: exact posterior agreement, pending points, leave-one-out, MAP fit, padding, jitter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policies.surrogates.gp import GPFit, _cholesky, _gradient, fit_gp


def _matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    r = math.sqrt(5.0) * np.linalg.norm((a[:, None, :] - b[None, :, :]) / ls, axis=-1)
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)[None]


def _data(n: int = 14, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    return X, np.sin(6 * X[:, 0]) + 0.05 * rng.standard_normal(n)


def test_posterior_matches_the_closed_form_with_and_without_pending_points() -> None:
    X, y = _data()
    P, C = np.array([[0.5, 0.5], [0.9, 0.1]]), np.random.default_rng(1).random((9, 2))
    fit = fit_gp(_t(X), _t(y), torch.ones(1, len(X), dtype=torch.bool), steps=25)
    ls, noise = fit.lengthscale[0].numpy(), float(fit.noise[0])
    ys = (y - y.mean()) / y.std()
    K = _matern52(X, X, ls) + noise * np.eye(len(X))
    ks = _matern52(X, C, ls)
    mean = ks.T @ np.linalg.solve(K, ys)
    var_obs = 1.0 - np.einsum("ik,ik->k", ks, np.linalg.solve(K, ks))
    J = np.concatenate([X, P])
    kj = _matern52(J, C, ls)
    var = 1.0 - np.einsum("ik,ik->k", kj, np.linalg.solve(_matern52(J, J, ls) + noise * np.eye(len(J)), kj))
    m, vo, vp = fit.predict_pending(_t(C), _t(P), torch.ones(1, 2, dtype=torch.bool))
    np.testing.assert_allclose(m[0].numpy(), mean, atol=1e-8)
    np.testing.assert_allclose(vo[0].numpy(), var_obs, atol=1e-8)
    np.testing.assert_allclose(vp[0].numpy(), var, atol=1e-8)
    assert (vp <= vo + 1e-12).all()  # more conditioning never adds variance


def test_leave_one_out_matches_refitting_without_each_point() -> None:
    X, y = _data(10)
    fit = fit_gp(_t(X), _t(y), torch.ones(1, 10, dtype=torch.bool), steps=10)
    mu, var = fit.loo()
    ls, noise, ys = fit.lengthscale[0].numpy(), float(fit.noise[0]), fit.ys[0].numpy()
    for i in range(10):
        keep = np.arange(10) != i
        K = _matern52(X[keep], X[keep], ls) + noise * np.eye(9)
        k = _matern52(X[keep], X[i:i + 1], ls)[:, 0]
        assert abs(float(mu[0, i]) - k @ np.linalg.solve(K, ys[keep])) < 1e-8
        # LOO variance of y_i includes the noise
        assert abs(float(var[0, i]) - (1.0 + noise - k @ np.linalg.solve(K, k))) < 1e-8


def test_the_map_fit_finds_the_relevant_dimension_and_raises_the_marginal_likelihood() -> None:
    X, y = _data(30, 3, seed=2)
    mask = torch.ones(1, 30, dtype=torch.bool)
    start = fit_gp(_t(X), _t(y), mask, steps=0)
    fit = fit_gp(_t(X), _t(y), mask, steps=80)
    assert float(fit.lengthscale[0, 0]) < 0.5 * float(fit.lengthscale[0, 1:].min())
    assert float(fit.loo_log_likelihood()[0]) > float(start.loo_log_likelihood()[0])


def test_padding_rows_and_campaigns_fitted_together_do_not_interact() -> None:
    X, y = _data(12)
    X2, y2 = _data(8, seed=5)
    alone = fit_gp(_t(X2), _t(y2), torch.ones(1, 8, dtype=torch.bool), steps=20)
    Xb = torch.zeros(2, 12, 2, dtype=torch.float64)
    yb = torch.zeros(2, 12, dtype=torch.float64)
    Xb[0], yb[0] = _t(X)[0], _t(y)[0]
    Xb[1, :8], yb[1, :8] = _t(X2)[0], _t(y2)[0]
    Xb[1, 8:] = 0.3  # junk in the padding
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 8:] = False
    both = fit_gp(Xb, yb, mask, steps=20)
    C = torch.rand(1, 5, 2, dtype=torch.float64)
    a = alone.predict(C)
    b = both.predict(torch.cat([C, C]))
    torch.testing.assert_close(both.lengthscale[1], alone.lengthscale[0])
    torch.testing.assert_close(b[0][1], a[0][0])
    torch.testing.assert_close(b[1][1], a[1][0])


def test_adaptive_jitter_rescues_only_the_failing_matrix() -> None:
    good = torch.eye(3, dtype=torch.float64) * 2
    bad = torch.ones(3, 3, dtype=torch.float64)  # rank one: plain Cholesky fails
    L = _cholesky(torch.stack([good, bad]))
    assert torch.isfinite(L).all()
    torch.testing.assert_close(L[0], torch.linalg.cholesky(good))
    assert torch.allclose(L[1] @ L[1].T, bad, atol=2e-2)


def test_warm_start_from_a_fit_with_no_steps_keeps_its_hyper_parameters() -> None:
    X, y = _data()
    fit = fit_gp(_t(X), _t(y), torch.ones(1, 14, dtype=torch.bool), steps=30)
    again: GPFit = fit_gp(_t(X), _t(y), torch.ones(1, 14, dtype=torch.bool), steps=0,
                          init=(fit.lengthscale, fit.noise))
    torch.testing.assert_close(again.lengthscale, fit.lengthscale)
    torch.testing.assert_close(again.noise, fit.noise)


def test_the_isotropic_fit_matches_botorchs_maximum_likelihood_model() -> None:
    from policies.gp_lcb import fit_iso_gp

    X, y = _data(25, 3, seed=7)
    ref = fit_iso_gp(torch.from_numpy(X), torch.from_numpy(y)[:, None], "mle")
    fit = fit_gp(_t(X), _t(y), torch.ones(1, 25, dtype=torch.bool), steps=200, lr=0.05, kind="iso")
    assert torch.allclose(fit.lengthscale[0], fit.lengthscale[0, :1].expand(3))  # one lengthscale for all
    ls = float(ref.covar_module.base_kernel.lengthscale)
    assert abs(float(fit.lengthscale[0, 0]) / ls - 1) < 0.1
    C = torch.rand(1, 50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        post = ref.posterior(C[0].unsqueeze(-2))
        ucb_ref = post.mean.reshape(-1) + 2 * post.variance.clamp_min(0).sqrt().reshape(-1)
    mean, var = fit.predict(C)
    ucb = mean[0] + 2 * var[0].sqrt()
    ranks = lambda v: v.argsort().argsort().double()  # noqa: E731
    assert float(torch.corrcoef(torch.stack([ranks(ucb), ranks(ucb_ref)]))[0, 1]) > 0.95


@pytest.mark.parametrize("ard", [True, False])
def test_the_closed_form_gradient_matches_autograd_of_the_marginal_likelihood(ard: bool) -> None:
    g = torch.Generator().manual_seed(4)
    X = torch.rand(2, 9, 3, dtype=torch.float64, generator=g)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    ys = torch.where(mask, torch.randn(2, 9, dtype=torch.float64, generator=g), torch.zeros(2, 9, dtype=torch.float64))
    log_ls = torch.tensor([[-0.5, 0.3, 1.0], [0.2, -1.0, 7.0]] if ard else [[-0.4], [0.6]], dtype=torch.float64)
    raw_nz = torch.tensor([-2.0, -4.0], dtype=torch.float64)
    log_os = torch.tensor([0.3, -0.2], dtype=torch.float64)
    params = [t.clone().requires_grad_(True) for t in (log_ls, raw_nz, log_os)]
    ls = params[0].clamp(-6, 6).exp().expand(2, 3)
    noise = torch.nn.functional.softplus(params[1]) + 1e-4
    scale = params[2].clamp(-6, 6).exp() if not ard else torch.ones(2, dtype=torch.float64)
    total = torch.zeros((), dtype=torch.float64)
    for b in range(2):
        n = int(mask[b].sum())
        diff = (X[b, :n, None, :] - X[b, None, :n, :]) / ls[b]
        r = math.sqrt(5.0) * (diff.pow(2).sum(-1) + 1e-30).sqrt()
        K = scale[b] * (1 + r + r * r / 3) * torch.exp(-r) + noise[b] * torch.eye(n, dtype=torch.float64)
        total = total + torch.distributions.MultivariateNormal(torch.zeros(n, dtype=torch.float64), K).log_prob(ys[b, :n])
    total.backward()
    pair = (mask[:, :, None] & mask[:, None, :]).to(torch.float64)
    got = _gradient(X, pair, ys, log_ls, raw_nz, log_os, 1e-4, ard)
    torch.testing.assert_close(got[0], params[0].grad)
    torch.testing.assert_close(got[1], params[1].grad)
    if not ard:
        torch.testing.assert_close(got[2], params[2].grad)
    if ard:
        assert float(got[0][1, 2]) == 0.0  # a lengthscale past its clamp gets no gradient, as with torch.clamp
