"""LogEI accuracy in the tail, UCB and quantile ranks."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import norm

from policies.surrogates.acquisition import log_ei, log_h, quantile_rank, ucb


def _log_h_reference(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z * z + torch.log(1 / math.sqrt(2 * math.pi) + z / 2 * torch.special.erfcx(-z / math.sqrt(2)))


def test_log_h_matches_the_closed_form_and_stays_monotone_in_the_tail() -> None:
    z = torch.linspace(-3.99, 5.0, 900, dtype=torch.float64)
    np.testing.assert_allclose(log_h(z).numpy(), np.log(norm.pdf(z.numpy()) + z.numpy() * norm.cdf(z.numpy())), atol=1e-9)
    tail = torch.linspace(-40.0, -2.0, 4001, dtype=torch.float64)
    v = log_h(tail)
    assert torch.isfinite(v).all() and (v.diff() > 0).all()
    assert (v - _log_h_reference(tail)).abs().max() < 1e-6


def test_log_ei_is_the_log_of_the_expected_improvement() -> None:
    mean = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    std = torch.tensor([[0.5, 2.0, 1e-3]], dtype=torch.float64)
    best = torch.tensor([0.5], dtype=torch.float64)
    z = (mean - 0.5) / std
    ei = std * (norm.pdf(z.numpy()) + z.numpy() * norm.cdf(z.numpy()))
    np.testing.assert_allclose(log_ei(mean, std, best).exp().numpy(), ei, rtol=1e-9)
    assert torch.equal(ucb(mean, std, 2.0), mean + 2 * std)


def test_quantile_rank_is_scale_free_and_ignores_masked_candidates() -> None:
    score = torch.tensor([[5.0, -2.0, 3.0, 100.0, 0.0]])
    mask = torch.tensor([[True, True, True, False, True]])
    r = quantile_rank(score, mask)
    torch.testing.assert_close(r, torch.tensor([[1.0, 0.0, 2 / 3, 0.0, 1 / 3]]))
    torch.testing.assert_close(quantile_rank(score * 1e6 - 7, mask), r)
