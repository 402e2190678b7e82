"""PPO-clip on logged picks: the loss, the effective sample size and the version lag."""

from __future__ import annotations

import math

import torch

from policies.rl.evidence import CAND_FEATURES, GLOBAL_FEATURES
from policies.rl.network import AcquisitionNet
from policies.rl.offpolicy import clip_loss, effective_sample_size, fit_logged_picks, version_lag
from policies.rl.policy import PickInput, pick_log_probs


def _picks(n: int, k: int = 6) -> list[PickInput]:
    gen = torch.Generator().manual_seed(0)
    return [PickInput(torch.randn(k, len(CAND_FEATURES), generator=gen), torch.randn(len(GLOBAL_FEATURES), generator=gen),
                      torch.ones(k, dtype=torch.bool), i % k) for i in range(n)]


def test_clip_loss_stops_pushing_past_the_clip_range() -> None:
    adv = torch.tensor([1.0])
    old = torch.tensor([0.0])
    inside = torch.tensor([0.1], requires_grad=True)
    clip_loss(inside, old, adv, 0.2).backward()
    assert inside.grad is not None and inside.grad.item() < 0  # raising the pick's probability lowers the loss
    beyond = torch.tensor([math.log(1.5)], requires_grad=True)
    clip_loss(beyond, old, adv, 0.2).backward()
    assert beyond.grad is not None and beyond.grad.item() == 0.0  # ratio 1.5 > 1.2: clipped, no gradient


def test_fitting_logged_picks_raises_good_picks_and_lowers_bad_ones() -> None:
    torch.manual_seed(0)
    net = AcquisitionNet(hidden=16, layers=1)
    picks = _picks(12)
    with torch.no_grad():
        before = pick_log_probs(net, picks)
    adv = torch.tensor([1.0, -1.0] * 6)
    fit_logged_picks(net, picks, before, adv, epochs=20, lr=1e-2, clip=0.2)
    with torch.no_grad():
        after = pick_log_probs(net, picks)
    change = after - before
    assert float(change[adv > 0].mean()) > 0 > float(change[adv < 0].mean())
    assert not net.training


def test_effective_sample_size_and_version_lag() -> None:
    assert effective_sample_size(torch.zeros(5)) == 5.0
    assert effective_sample_size(torch.empty(0)) == 0.0
    assert 1.0 < effective_sample_size(torch.tensor([0.0, -1.0, -2.0])) < 3.0
    lag = version_lag(["v1", "v2", "v3"], ["v1", "v3", "unknown"], "v3")
    assert lag == {"mean": 1.0, "max": 2.0}
    assert math.isnan(version_lag(["v1"], [], "v1")["mean"])
