"""Imitation warm start, PPO, and held-out evaluation on batched simulated campaigns.

* :func:`rollout` runs ``B`` campaigns to their horizon with the network (sampling or greedy) or
  with one of the three teachers (:data:`policies.rl.evidence.TEACHERS`), and keeps every step's
  features, picks, log-probabilities, values, rewards and the teachers' picks.
* :func:`best_teacher`: which teacher does best on each task (area under its Top% curve).
* :func:`imitation_loss`: cross-entropy of the network's pick distribution against a label per
  step and campaign: the pick of that task's best teacher in the visited state. States come from
  the best teacher's own rollout and from the network's (DAgger), so it learns to recover from its
  own mistakes, and, from the campaign-level evidence, which surrogate to follow.
* :func:`ppo_update`: PPO-clip with generalised advantage estimation, value loss and an entropy bonus.
* :func:`evaluate`: Top% and normalised simple regret curves on tasks never used in training.

Shapes: ``T`` steps, ``B`` campaigns, ``K`` candidates, ``F`` candidate and ``G`` global features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from policies.rl.env import BatchedCampaigns, normalised_regret
from policies.rl.evidence import TEACHERS
from policies.rl.network import AcquisitionNet, log_prob_of, sample_without_replacement
from policies.rl.offpolicy import clip_loss
from policies.rl.tasks import TaskBatch

__all__ = ["ACTS", "Curves", "PPOSettings", "Rollout", "best_teacher", "evaluate", "imitation_loss", "ppo_update",
           "rollout", "teacher_labels"]


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
    """One batch of campaigns. cand ``(T, B, K, F)``, glob ``(T, B, G)``, mask ``(T, B, K)``; picks,
    log_prob, value, reward ``(T, B)``; teachers: each teacher's pick ``(T, B, 3)``; regret and top:
    normalised simple regret and share of top rows found after each step ``(T, B)``; lengthscale,
    noise: the GP's mean lengthscale (units of sqrt(dim)) and noise at each step ``(T, B)`` (for the
    guardrail's range)."""

    cand: Tensor
    glob: Tensor
    mask: Tensor
    picks: Tensor
    log_prob: Tensor
    value: Tensor
    reward: Tensor
    teachers: Tensor
    regret: Tensor
    top: Tensor
    lengthscale: Tensor
    noise: Tensor

    @property
    def env_steps(self) -> int:
        return int(self.picks.numel())


ACTS = ("sample", "greedy", *(f"teacher:{name}" for name in TEACHERS))


def rollout(net: AcquisitionNet, env: BatchedCampaigns, generator: torch.Generator, *, act: str = "sample") -> Rollout:
    """Run every campaign of ``env`` to its horizon.

    Args:
        act: ``"sample"`` (the stochastic policy), ``"greedy"`` (its most likely pick) or
            ``"teacher:<name>"`` (that teacher's pick; the network still scores the states).

    Raises:
        ValueError: ``act`` is not one of :data:`ACTS`.
    """
    if act not in ACTS:
        raise ValueError(f"act must be one of {ACTS}, got {act!r}")
    keep: dict[str, list[Tensor]] = {k: [] for k in ("cand", "glob", "mask", "picks", "log_prob", "value", "reward",
                                                      "teachers", "regret", "top", "lengthscale", "noise")}
    dev = next(net.parameters()).device
    while not env.done:
        obs = env.observe()
        f = obs.features
        cand, glob = f.candidates.float().to(dev), f.globals.float().to(dev)
        mask = obs.mask.to(dev)
        with torch.no_grad():
            logits, value = net(cand, glob, mask)
        if act.startswith("teacher:"):
            picks = f.teachers[:, TEACHERS.index(act.split(":", 1)[1])].to(dev)[:, None]
            logp = log_prob_of(logits, mask, picks)
        else:
            picks, logp = sample_without_replacement(logits, mask, 1, generator, greedy=act == "greedy")
        reward = env.step(picks[:, 0])
        dim_mask = torch.arange(f.gp_lengthscale.shape[1])[None, :] < env.tasks.dims[:, None]
        mean_ls = ((f.gp_lengthscale.log() * dim_mask).sum(-1) / env.tasks.dims).exp() / env.tasks.dims.sqrt()
        for k, v in (("cand", cand), ("glob", glob), ("mask", mask), ("picks", picks[:, 0]), ("log_prob", logp),
                     ("value", value), ("reward", reward.float().to(dev)), ("teachers", f.teachers.to(dev)),
                     ("regret", env.regret().float().to(dev)), ("top", env.top_found().float().to(dev)),
                     ("lengthscale", mean_ls), ("noise", f.gp_noise)):
            keep[k].append(v)
    return Rollout(**{k: torch.stack(v) for k, v in keep.items()})


def best_teacher(net: AcquisitionNet, make_env: Callable[[], BatchedCampaigns],
                 generator: torch.Generator) -> tuple[Tensor, list[Rollout]]:
    """Run each teacher on the same campaigns (``make_env`` builds identical fresh environments);
    returns the index of each task's best teacher by area under the Top% curve ``(B,)`` (ties go to
    the first, GP LogEI) and the teachers' rollouts."""
    runs = [rollout(net, make_env(), generator, act=f"teacher:{name}") for name in TEACHERS]
    area = torch.stack([r.top.mean(0) for r in runs], -1)  # (B, 3)
    return area.argmax(-1), runs


def teacher_labels(r: Rollout, best: Tensor) -> Tensor:
    """The pick of each task's best teacher in every state of ``r``, ``(T, B)``."""
    return r.teachers.gather(-1, best.to(r.teachers.device)[None, :, None].expand(r.teachers.shape[0], -1, 1))[..., 0]


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


def imitation_loss(net: AcquisitionNet, r: Rollout, labels: Tensor, states: Tensor | None = None) -> Tensor:
    """Mean cross-entropy of the network's pick distribution against ``labels`` ``(T, B)``, over the
    flattened ``states`` (indices into ``T * B``; default all)."""
    cand, glob, mask, y = _flat(r.cand), _flat(r.glob), _flat(r.mask), _flat(labels)
    if states is not None:
        cand, glob, mask, y = cand[states], glob[states], mask[states], y[states]
    logits, _ = net(cand, glob, mask)
    return torch.nn.functional.cross_entropy(logits, y)


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
            pl = clip_loss(logp, old_logp[chunk], adv[chunk], s.clip)
            vl = (value - ret[chunk]).pow(2).mean()
            p = torch.softmax(logits, -1)
            ent = -(p * torch.log_softmax(logits, -1)).masked_fill(~mask[chunk], 0.0).sum(-1).mean()
            loss = pl + s.value_coef * vl - s.entropy_coef * ent
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), s.max_grad_norm)
            opt.step()
            with torch.no_grad():
                stats["policy_loss"] += float(pl)
                stats["value_loss"] += float(vl)
                stats["entropy"] += float(ent)
                stats["approx_kl"] += float((old_logp[chunk] - logp).mean())
                stats["clip_frac"] += float(((ratio - 1).abs() > s.clip).float().mean())
            count += 1
    return {k: v / max(count, 1) for k, v in stats.items()}


@dataclass(frozen=True)
class Curves:
    """Per task and experiment (initial ones included): share of top rows found and normalised
    simple regret, each ``(B, horizon)``; column ``i`` is after ``i + 1`` experiments."""

    top: Tensor
    regret: Tensor


def evaluate(net: AcquisitionNet, tasks: TaskBatch, horizon: int, seed: int, *, max_delay: int = 3,
             act: str = "sample", device: str | torch.device = "cpu") -> Curves:
    """Top% and regret curves of ``act`` on ``tasks``; the first ``n_init`` columns come from the shared random start."""
    env = BatchedCampaigns(tasks, horizon, max_delay=max_delay, seed=seed, device=device)
    start = [_after(env, j + 1) for j in range(env.t)]
    net.eval()
    r = rollout(net, env, torch.Generator().manual_seed(seed), act=act)
    net.train()
    top = torch.cat([torch.stack([s[0] for s in start], -1), r.top.T.double().cpu()], -1)
    regret = torch.cat([torch.stack([s[1] for s in start], -1), r.regret.T.double().cpu()], -1)
    return Curves(top, regret)


def _after(env: BatchedCampaigns, n: int) -> tuple[Tensor, Tensor]:
    """Top share and regret after the first ``n`` experiments of ``env``, each ``(B,)``."""
    picked = env.picked[:, :n]
    best = env.values.gather(1, picked).amax(-1)
    top = env.top.gather(1, picked).sum(-1).double() / env.n_top
    return top.cpu(), normalised_regret(env.values, best).double().cpu()
