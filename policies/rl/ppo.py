"""Imitation warm start, PPO, and held-out evaluation on batched simulated campaigns.

* :func:`rollout` runs ``B`` campaigns to their horizon with the network (sampling, or the LogEI
  teacher) and keeps every step's features, picks, log-probabilities, values and rewards.
* :func:`imitation_loss`: cross-entropy of the network's pick distribution against the teacher's
  pick, the candidate with the highest LogEI under the same GP with pending experiments fantasised
  (what qLogNEI picks for ``q = 1`` with a noiseless incumbent). States come from the network's own
  rollouts (DAgger), so it learns to recover from its own mistakes.
* :func:`ppo_update`: PPO-clip with generalised advantage estimation, value loss and an entropy bonus.
* :func:`evaluate`: normalised simple regret curves on tasks never used in training.

Shapes: ``T`` steps, ``B`` campaigns, ``K`` candidates, ``F = 8`` candidate and ``G = 8`` global features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from policies.rl.env import BatchedCampaigns, normalised_regret
from policies.rl.network import AcquisitionNet, log_prob_of, sample_without_replacement
from policies.rl.tasks import TaskBatch

__all__ = ["PPOSettings", "Rollout", "evaluate", "imitation_loss", "ppo_update", "rollout"]


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters (standard values; none tuned on the evaluation pools)."""

    epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 1.0


@dataclass(frozen=True)
class Rollout:
    """One batch of campaigns. cand ``(T, B, K, F)``, glob ``(T, B, G)``, mask ``(T, B, K)``, picks,
    log_prob, value, reward, teacher ``(T, B)``; regret: normalised simple regret after each step ``(T, B)``;
    lengthscale, noise: the GP hyper-parameters picked at each step ``(T, B)`` (for the guardrail's range)."""

    cand: Tensor
    glob: Tensor
    mask: Tensor
    picks: Tensor
    log_prob: Tensor
    value: Tensor
    reward: Tensor
    teacher: Tensor
    regret: Tensor
    lengthscale: Tensor
    noise: Tensor

    @property
    def env_steps(self) -> int:
        return int(self.picks.numel())


def rollout(net: AcquisitionNet, env: BatchedCampaigns, generator: torch.Generator, *, act: str = "sample") -> Rollout:
    """Run every campaign of ``env`` to its horizon.

    Args:
        act: ``"sample"`` (the stochastic policy), ``"greedy"`` (its most likely pick) or ``"teacher"``
            (the LogEI pick; the network still scores the states).
    """
    keep: dict[str, list[Tensor]] = {k: [] for k in ("cand", "glob", "mask", "picks", "log_prob", "value", "reward",
                                                      "teacher", "regret", "lengthscale", "noise")}
    dev = next(net.parameters()).device
    while not env.done:
        obs = env.observe()
        cand, glob = obs.features.candidates.float().to(dev), obs.features.globals.float().to(dev)
        mask = obs.mask.to(dev)
        with torch.no_grad():
            logits, value = net(cand, glob, mask)
        if act == "teacher":
            picks = obs.teacher.to(dev)[:, None]
            logp = log_prob_of(logits, mask, picks)
        else:
            picks, logp = sample_without_replacement(logits, mask, 1, generator, greedy=act == "greedy")
        reward = env.step(picks[:, 0])
        for k, v in (("cand", cand), ("glob", glob), ("mask", mask), ("picks", picks[:, 0]), ("log_prob", logp),
                     ("value", value), ("reward", reward.float().to(dev)), ("teacher", obs.teacher.to(dev)),
                     ("regret", env.regret().float().to(dev)), ("lengthscale", obs.features.lengthscale),
                     ("noise", obs.features.noise)):
            keep[k].append(v)
    return Rollout(**{k: torch.stack(v) for k, v in keep.items()})


def _advantages(r: Rollout, lam: float) -> tuple[Tensor, Tensor]:
    """GAE with gamma = 1 over the finite horizon; returns (advantages, returns), each ``(T, B)``."""
    T = r.reward.shape[0]
    adv = torch.zeros_like(r.reward)
    last = torch.zeros_like(r.reward[0])
    for t in reversed(range(T)):
        nxt = r.value[t + 1] if t + 1 < T else torch.zeros_like(r.value[t])
        delta = r.reward[t] + nxt - r.value[t]
        last = delta + lam * last
        adv[t] = last
    return adv, adv + r.value


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[2:])


def imitation_loss(net: AcquisitionNet, r: Rollout) -> Tensor:
    """Mean cross-entropy of the network's pick distribution against the teacher's picks."""
    logits, _ = net(_flat(r.cand), _flat(r.glob), _flat(r.mask))
    return torch.nn.functional.cross_entropy(logits, _flat(r.teacher))


def ppo_update(net: AcquisitionNet, opt: torch.optim.Optimizer, r: Rollout, s: PPOSettings,
               generator: torch.Generator) -> dict[str, float]:
    """PPO-clip epochs over one rollout; returns mean losses, approximate KL and clip fraction."""
    adv, ret = _advantages(r, s.gae_lambda)
    cand, glob, mask = _flat(r.cand), _flat(r.glob), _flat(r.mask)
    picks, old_logp, adv, ret = _flat(r.picks), _flat(r.log_prob), _flat(adv), _flat(ret)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    n = picks.shape[0]
    stats = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_frac": 0.0}
    count = 0
    for _ in range(s.epochs):
        order = torch.randperm(n, generator=generator).to(picks.device)
        for chunk in order.chunk(s.minibatches):
            logits, value = net(cand[chunk], glob[chunk], mask[chunk])
            logp = log_prob_of(logits, mask[chunk], picks[chunk, None])
            ratio = torch.exp(logp - old_logp[chunk])
            a = adv[chunk]
            pl = -torch.min(ratio * a, ratio.clamp(1 - s.clip, 1 + s.clip) * a).mean()
            vl = (value - ret[chunk]).pow(2).mean()
            p = torch.softmax(logits, -1)
            ent = -(p * torch.log_softmax(logits, -1)).masked_fill(~mask[chunk], 0.0).sum(-1).mean()
            loss = pl + s.value_coef * vl - s.entropy_coef * ent
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), s.max_grad_norm)
            opt.step()
            with torch.no_grad():
                stats["policy_loss"] += float(pl); stats["value_loss"] += float(vl); stats["entropy"] += float(ent)
                stats["approx_kl"] += float((old_logp[chunk] - logp).mean())
                stats["clip_frac"] += float(((ratio - 1).abs() > s.clip).float().mean())
            count += 1
    return {k: v / max(count, 1) for k, v in stats.items()}


def evaluate(net: AcquisitionNet, tasks: TaskBatch, horizon: int, seed: int, *, max_delay: int = 3,
             act: str = "sample", device: str | torch.device = "cpu") -> Tensor:
    """Normalised simple regret after each experiment, ``(B, horizon)``, on ``tasks`` (initial ones included).

    Column ``i`` is the regret after ``i + 1`` experiments; the first ``n_init`` columns come from the
    shared random start.
    """
    env = BatchedCampaigns(tasks, horizon, max_delay=max_delay, seed=seed, device=device)
    start = [_regret_after(env, j + 1) for j in range(env.t)]
    net.eval()
    r = rollout(net, env, torch.Generator().manual_seed(seed), act=act)
    net.train()
    return torch.cat([torch.stack(start, -1), r.regret.T.double().cpu()], -1)


def _regret_after(env: BatchedCampaigns, n: int) -> Tensor:
    """Regret after the first ``n`` experiments of ``env``, ``(B,)``."""
    best = env.values.gather(1, env.picked[:, :n]).amax(-1)
    return normalised_regret(env.values, best).double().cpu()
