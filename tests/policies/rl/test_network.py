"""The acquisition network and batch sampling without replacement."""

from __future__ import annotations

import math

import pytest
import torch

from policies.rl.evidence import CAND_FEATURES, GLOBAL_FEATURES
from policies.rl.network import (
    AcquisitionNet,
    NetConfig,
    log_prob_of,
    sample_without_replacement,
)


def _random_mask(B: int, K: int, q: int, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(B, K, generator=gen) < 0.6
    mask[:, :q] = True  # at least q allowed per row, then shuffled
    perm = torch.argsort(torch.rand(B, K, generator=gen), -1)
    return mask.gather(1, perm)

NF, NG = len(CAND_FEATURES), len(GLOBAL_FEATURES)


def test_picks_are_distinct_and_allowed_and_their_log_prob_matches_log_prob_of() -> None:
    gen = torch.Generator().manual_seed(0)
    B, K, q = 64, 16, 4
    logits = 2 * torch.randn(B, K, generator=gen)
    mask = _random_mask(B, K, q, gen)
    logits_with_masked_favourites = logits.masked_fill(~mask, 50.0)  # masked ones would win if allowed
    picks, logp = sample_without_replacement(logits_with_masked_favourites, mask, q, gen)
    assert picks.shape == (B, q) and logp.shape == (B,)
    for row in range(B):
        assert len(set(picks[row].tolist())) == q
        assert mask[row, picks[row]].all()
    again = log_prob_of(logits_with_masked_favourites, mask, picks)
    assert float((again - logp).abs().max()) < 1e-5
    assert (logp < 0).all()


def test_log_prob_of_is_the_plackett_luce_probability() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    p = torch.softmax(logits[0, :3], -1)
    lp = log_prob_of(logits, mask, torch.tensor([[2, 0]]))
    assert float(lp[0]) == pytest.approx(math.log(p[2]) + math.log(p[0] / (1 - p[2])), abs=1e-6)


def test_first_pick_frequencies_match_the_softmax() -> None:
    gen = torch.Generator().manual_seed(1)
    n, K = 20000, 8
    logits = torch.tensor([1.5, 0.0, -1.0, 0.7, 2.0, -3.0, 0.2, 0.0])
    mask = torch.ones(n, K, dtype=torch.bool)
    mask[:, 7] = False
    picks, _ = sample_without_replacement(logits.expand(n, K), mask, 2, gen)
    p = torch.softmax(logits[:7], -1)
    freq = torch.bincount(picks[:, 0], minlength=K).double() / n
    se = (p * (1 - p) / n).sqrt()
    assert freq[7] == 0
    assert ((freq[:7] - p.double()).abs() <= 5 * se.double() + 1e-12).all()  # 5 standard errors per category
    # the second pick follows p_j / (1 - p_first): check it for the most frequent first pick
    first = picks[:, 0] == 4
    m = int(first.sum())
    q = p.clone()
    q[4] = 0
    q = q / q.sum()
    freq2 = torch.bincount(picks[first, 1], minlength=K).double()[:7] / m
    assert freq2[4] == 0
    assert ((freq2 - q.double()).abs() <= 5 * (q * (1 - q) / m).sqrt().double() + 1e-12).all()


def test_greedy_takes_the_top_allowed_logits_in_order() -> None:
    gen = torch.Generator().manual_seed(2)
    B, K, q = 32, 16, 3
    logits = torch.randn(B, K, generator=gen)
    mask = _random_mask(B, K, q, gen)
    picks, logp = sample_without_replacement(logits, mask, q, gen, greedy=True)
    expected = logits.masked_fill(~mask, -math.inf).topk(q, -1).indices
    assert torch.equal(picks, expected)
    assert float((log_prob_of(logits, mask, picks) - logp).abs().max()) < 1e-5


def test_masked_candidates_are_never_picked_even_with_the_highest_logits() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.tensor([[10.0, 10.0, -5.0, -5.0, -5.0]]).expand(500, 5)
    mask = torch.tensor([[False, False, True, True, True]]).expand(500, 5)
    picks, _ = sample_without_replacement(logits, mask, 3, gen)
    assert (picks >= 2).all()


@torch.no_grad()
def test_network_scores_each_candidate_on_its_own_and_ignores_padding() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = AcquisitionNet(hidden=16, layers=1)
    gen = torch.Generator().manual_seed(4)
    cand, glob = torch.randn(2, 10, NF, generator=gen), torch.randn(2, NG, generator=gen)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    logits, value = net(cand, glob, mask)
    assert logits.shape == (2, 10) and value.shape == (2,)
    assert (logits[1, 7:] == -1e9).all()
    # permuting candidates permutes the logits and leaves the value unchanged
    perm = torch.randperm(10, generator=gen)
    lp, vp = net(cand[:, perm], glob, mask[:, perm])
    assert float((lp - logits[:, perm]).abs().max()) < 1e-5 and float((vp - value).abs().max()) < 1e-5
    # padding candidates (masked, arbitrary features) change neither the real logits nor the value
    junk = cand.clone()
    junk[1, 7:] = 100 * torch.randn(3, NF, generator=gen)
    lj, vj = net(junk, glob, mask)
    assert float((lj[1, :7] - logits[1, :7]).abs().max()) < 1e-5 and abs(float(vj[1] - value[1])) < 1e-5
    short, vs = net(cand[1:, :7], glob[1:], mask[1:, :7])
    assert float((short[0] - logits[1, :7]).abs().max()) < 1e-5 and abs(float(vs[0] - value[1])) < 1e-5
    # another candidate's features do change the value (pooling), but not this candidate's logit
    other = cand.clone()
    other[0, 3] += 1.0
    lo, vo = net(other, glob, mask)
    assert float((lo[0, :3] - logits[0, :3]).abs().max()) < 1e-6 and abs(float(vo[0] - value[0])) > 0


def test_log_prob_of_is_differentiable() -> None:
    logits = torch.randn(3, 6, requires_grad=True)
    mask = torch.ones(3, 6, dtype=torch.bool)
    log_prob_of(logits, mask, torch.tensor([[0, 1], [2, 3], [5, 4]])).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # softmax gradients sum to zero over each row's candidates
    assert float(logits.grad.sum(-1).abs().max()) < 1e-6


def test_net_config_round_trips() -> None:
    net = AcquisitionNet(hidden=12, layers=3)
    assert NetConfig.from_dict(net.config.to_dict()) == NetConfig(12, 3)
    assert NetConfig.from_dict({}) == NetConfig(hedge=False)  # written before the hedge head existed
    assert NetConfig.from_dict(AcquisitionNet(8, 1, hedge=False).config.to_dict()) == NetConfig(8, 1, False)
    hidden_linears = [m for m in net.embed if isinstance(m, torch.nn.Linear)]
    assert len(hidden_linears) == 4 and all(m.out_features == 12 for m in hidden_linears)


def test_the_hedge_head_follows_one_acquisition_when_its_weight_dominates() -> None:
    from policies.rl.evidence import HEDGE_FEATURES

    net = AcquisitionNet(hidden=8, layers=1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.gate[-1].bias[:] = -30.0
        net.gate[-1].bias[2] = 30.0  # trust only the third gap (ARD GP UCB)
    gen = torch.Generator().manual_seed(0)
    cand = torch.randn(1, 12, NF, generator=gen)
    j = CAND_FEATURES.index(HEDGE_FEATURES[2])
    cand[0, :, j] = -torch.rand(12, generator=gen)
    cand[0, 5, j] = 0.0  # that acquisition's pick
    logits, _ = net(cand, torch.randn(1, NG, generator=gen), torch.ones(1, 12, dtype=torch.bool))
    assert int(logits.argmax()) == 5
    plain = AcquisitionNet(hidden=8, layers=1, hedge=False)
    assert plain.gate is None and sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in net.parameters())
