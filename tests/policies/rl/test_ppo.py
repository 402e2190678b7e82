"""Rollouts, advantages, imitation and evaluation on small simulated campaigns."""

from __future__ import annotations

import torch

from policies.rl.env import BatchedCampaigns
from policies.rl.network import AcquisitionNet, log_prob_of
from policies.rl.ppo import PPOSettings, Rollout, _advantages, evaluate, imitation_loss, ppo_update, rollout
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
    assert r.picks.shape == (T, B) and r.cand.shape == (T, B, 16, 8) and r.env_steps == T * B
    assert r.mask.gather(2, r.picks[..., None]).all()
    for b in range(B):
        assert len(set(r.picks[:, b].tolist())) == T
    with torch.no_grad():
        logits, value = net(r.cand.flatten(0, 1), r.glob.flatten(0, 1), r.mask.flatten(0, 1))
        lp = log_prob_of(logits, r.mask.flatten(0, 1), r.picks.flatten()[:, None])
    assert float((lp - r.log_prob.flatten()).abs().max()) < 1e-5  # PPO ratios start at 1
    assert float((value - r.value.flatten()).abs().max()) < 1e-5
    assert (r.regret[1:] <= r.regret[:-1] + 1e-6).all()  # simple regret never increases
    assert torch.allclose(r.reward, -r.regret / 6)


def test_teacher_rollout_follows_the_teacher() -> None:
    r = rollout(_net(), BatchedCampaigns(_tasks(), horizon=5, seed=1), torch.Generator().manual_seed(0), act="teacher")
    assert torch.equal(r.picks, r.teacher)


def test_advantages_are_generalised_advantage_estimates_with_gamma_one() -> None:
    reward = torch.tensor([[1.0], [2.0], [3.0]])
    value = torch.tensor([[0.5], [1.0], [4.0]])
    r = Rollout(*(torch.zeros(1),) * 4, torch.zeros(3, 1), value, reward, *(torch.zeros(1),) * 4)
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
    r = rollout(net, BatchedCampaigns(_tasks(4), horizon=6, seed=2), torch.Generator().manual_seed(0), act="teacher")
    opt = _SGD(net.parameters(), lr=0.5)
    with torch.no_grad():
        start = float(imitation_loss(net, r))
    for _ in range(15):
        opt.zero_grad()
        imitation_loss(net, r).backward()
        opt.step()
    with torch.no_grad():
        assert float(imitation_loss(net, r)) < 0.8 * start
    before = [p.detach().clone() for p in net.parameters()]
    stats = ppo_update(net, _SGD(net.parameters(), lr=0.01), rollout(
        net, BatchedCampaigns(_tasks(4), horizon=6, seed=3), torch.Generator().manual_seed(1)),
        PPOSettings(epochs=2, minibatches=2), torch.Generator().manual_seed(0))
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac"}
    assert stats["entropy"] > 0 and 0 <= stats["clip_frac"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_evaluate_gives_a_regret_curve_over_the_whole_horizon() -> None:
    tasks = _tasks()
    curve = evaluate(_net(), tasks, horizon=6, seed=4, max_delay=1)
    assert curve.shape == (3, 6) and (curve >= 0).all()
    assert (curve[:, 1:] <= curve[:, :-1] + 1e-9).all()
    env = BatchedCampaigns(tasks, 6, max_delay=1, seed=4)  # the same random start
    first = env.values.gather(1, env.picked[:, :1])[:, 0]
    top = tasks.values.amax(-1)
    med = tasks.values.nanmedian(-1).values
    assert torch.allclose(curve[:, 0], (top - first) / (top - med))
