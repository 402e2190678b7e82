"""Rollouts, advantages, imitation and evaluation on small simulated campaigns."""

from __future__ import annotations

import pytest
import torch

from policies.rl.env import BatchedCampaigns
from policies.rl.evidence import CAND_FEATURES, TEACHERS
from policies.rl.network import AcquisitionNet, log_prob_of
from policies.rl.ppo import (
    PPOSettings,
    Rollout,
    _advantages,
    best_teacher,
    evaluate,
    imitation_loss,
    ppo_update,
    rollout,
    teacher_labels,
)
from policies.rl.tasks import RandomFeatureTasks


def _net(seed: int = 0) -> AcquisitionNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AcquisitionNet(hidden=8, layers=1)


def _tasks(n: int = 3):
    return RandomFeatureTasks(kinds=("continuous",), dims=(2, 2), n_features=32).sample(n, seed=0, n_candidates=16)


def test_rollout_records_allowed_picks_whose_log_probs_the_network_reproduces() -> None:
    net = _net()
    r = rollout(net, BatchedCampaigns(_tasks(), horizon=6, max_delay=2, seed=0), torch.Generator().manual_seed(0))
    T, B = 4, 3  # horizon 6 minus 2 initial experiments
    assert r.picks.shape == (T, B) and r.cand.shape == (T, B, 16, len(CAND_FEATURES)) and r.env_steps == T * B
    assert r.mask.gather(2, r.picks[..., None]).all()
    for b in range(B):
        assert len(set(r.picks[:, b].tolist())) == T
    with torch.no_grad():
        logits, value = net(r.cand.flatten(0, 1), r.glob.flatten(0, 1), r.mask.flatten(0, 1))
        lp = log_prob_of(logits, r.mask.flatten(0, 1), r.picks.flatten()[:, None])
    assert float((lp - r.log_prob.flatten()).abs().max()) < 1e-5  # PPO ratios start at 1
    assert float((value - r.value.flatten()).abs().max()) < 1e-5
    assert (r.regret[1:] <= r.regret[:-1] + 1e-6).all()  # simple regret never increases
    assert (r.top[1:] >= r.top[:-1]).all()  # top rows found stay found
    assert torch.allclose(r.reward, r.top / 4)


def test_teacher_rollouts_follow_their_teacher_and_the_best_teacher_labels_its_states() -> None:
    net = _net()
    make = lambda: BatchedCampaigns(_tasks(4), horizon=7, seed=1)  # noqa: E731
    for j, name in enumerate(TEACHERS):
        r = rollout(net, make(), torch.Generator().manual_seed(0), act=f"teacher:{name}")
        assert torch.equal(r.picks, r.teachers[..., j])
    best, runs = best_teacher(net, make, torch.Generator().manual_seed(0))
    area = torch.stack([r.top.mean(0) for r in runs], -1)
    assert torch.equal(area.gather(-1, best[:, None])[:, 0], area.amax(-1))
    labels = teacher_labels(runs[0], best)
    for b in range(4):
        assert torch.equal(labels[:, b], runs[0].teachers[:, b, int(best[b])])
    with pytest.raises(ValueError, match="act"):
        rollout(net, make(), torch.Generator(), act="teacher")


def test_advantages_are_generalised_advantage_estimates_with_gamma_one() -> None:
    reward = torch.tensor([[1.0], [2.0], [3.0]])
    value = torch.tensor([[0.5], [1.0], [4.0]])
    r = Rollout(*(torch.zeros(1),) * 4, torch.zeros(3, 1), value, reward, *(torch.zeros(1),) * 5)
    adv, ret = _advantages(r, 1.0)
    assert adv[:, 0].tolist() == [6.0 - 0.5, 5.0 - 1.0, 3.0 - 4.0] and ret[:, 0].tolist() == [6.0, 5.0, 3.0]
    adv0, _ = _advantages(r, 0.0)  # one-step TD errors
    assert adv0[:, 0].tolist() == [1.0 + 1.0 - 0.5, 2.0 + 4.0 - 1.0, 3.0 - 4.0]


class _SGD:
    """Plain gradient descent with the two methods ppo_update uses (torch.optim is slow to import)."""

    def __init__(self, params, lr: float) -> None:
        self.params, self.lr = list(params), lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p -= self.lr * p.grad


def test_imitation_lowers_the_cross_entropy_and_ppo_moves_the_policy() -> None:
    net = _net()
    r = rollout(net, BatchedCampaigns(_tasks(4), horizon=6, seed=2), torch.Generator().manual_seed(0),
                act="teacher:gp-ucb")
    labels = r.teachers[..., TEACHERS.index("gp-ucb")]
    opt = _SGD(net.parameters(), lr=0.5)
    with torch.no_grad():
        start = float(imitation_loss(net, r, labels))
    for _ in range(15):
        opt.zero_grad()
        imitation_loss(net, r, labels).backward()
        opt.step()
    with torch.no_grad():
        assert float(imitation_loss(net, r, labels)) < 0.8 * start
        some = torch.tensor([0, 3])
        logits, _ = net(r.cand.flatten(0, 1)[some], r.glob.flatten(0, 1)[some], r.mask.flatten(0, 1)[some])
        expected = torch.nn.functional.cross_entropy(logits, labels.flatten()[some])
        assert float(imitation_loss(net, r, labels, some)) == pytest.approx(float(expected))
    before = [p.detach().clone() for p in net.parameters()]
    stats = ppo_update(net, _SGD(net.parameters(), lr=0.01), rollout(
        net, BatchedCampaigns(_tasks(4), horizon=6, seed=3), torch.Generator().manual_seed(1)),
        PPOSettings(epochs=2, minibatches=2), torch.Generator().manual_seed(0))
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac"}
    assert stats["entropy"] > 0 and 0 <= stats["clip_frac"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_evaluate_gives_top_and_regret_curves_over_the_whole_horizon() -> None:
    tasks = _tasks()
    curves = evaluate(_net(), tasks, horizon=6, seed=4, max_delay=1)
    assert curves.regret.shape == curves.top.shape == (3, 6) and (curves.regret >= 0).all()
    assert (curves.regret[:, 1:] <= curves.regret[:, :-1] + 1e-9).all()
    assert (curves.top[:, 1:] >= curves.top[:, :-1]).all() and ((curves.top >= 0) & (curves.top <= 1)).all()
    env = BatchedCampaigns(tasks, 6, max_delay=1, seed=4)  # the same random start
    first = env.values.gather(1, env.picked[:, :1])[:, 0]
    top = tasks.values.amax(-1)
    med = tasks.values.nanmedian(-1).values
    assert torch.allclose(curves.regret[:, 0], (top - first) / (top - med))
