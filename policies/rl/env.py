"""Many simulated campaigns stepped at once, with results that arrive late.

Each environment is one task (:class:`~policies.rl.tasks.TaskBatch` row). A campaign starts with
``n_init`` random experiments whose results are known, then makes one pick per step. A pick's
result arrives ``delay`` steps later (drawn per campaign from ``0..max_delay``): until then it is
*pending*, visible to the policy as an experiment in flight, its value unknown. This is the
overnight lab in miniature: decisions are made while earlier ones are still in the furnace.

**Reward and credit.** The reward of a step is credited to the decision that made it, at once (the
simulator knows the true value), not when the result arrives: ``-regret / horizon`` where regret is
``(best true value - best true value picked so far) / (best - median)`` of the task, so an episode's
return is minus the mean normalised simple regret over its decisions. The policy still *sees* only
arrived results.

Example:
    >>> from policies.rl.tasks import RandomFeatureTasks
    >>> tasks = RandomFeatureTasks(kinds=("continuous",), dims=(2, 2)).sample(3, seed=1, n_candidates=20)
    >>> env = BatchedCampaigns(tasks, horizon=6, max_delay=2, seed=0)
    >>> obs = env.observe()
    >>> tuple(obs.features.candidates.shape)
    (3, 20, 8)
    >>> reward = env.step(obs.teacher)
    >>> tuple(reward.shape), env.n_done
    ((3,), 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from policies.rl.posterior import Features, PosteriorInput, featurize
from policies.rl.tasks import TaskBatch

__all__ = ["BatchedCampaigns", "Observation", "normalised_regret"]


@dataclass(frozen=True)
class Observation:
    """What the policy sees at one step: features, allowed candidates ``(B, K)`` and the LogEI teacher's pick ``(B,)``."""

    features: Features
    mask: Tensor
    teacher: Tensor


def normalised_regret(values: Tensor, best_so_far: Tensor) -> Tensor:
    """``(max - best_so_far) / (max - median)`` per task; ``values`` ``(B, K)`` (NaN padding), ``best_so_far`` ``(B,)``."""
    top = torch.nan_to_num(values, nan=-torch.inf).amax(-1)
    med = torch.nanmedian(values, -1).values
    return (top - best_so_far) / (top - med).clamp_min(1e-12)


class BatchedCampaigns:
    """``B`` campaigns over finite candidate sets, stepped together.

    Args:
        tasks: the tasks (one campaign each).
        horizon: experiments per campaign, initial ones included.
        n_init: initial random experiments (results known at the start).
        max_delay: a pick's result arrives after ``0..max_delay`` further steps (per campaign).
        seed: initial picks, delays and noise.
        device: where features are computed.
    """

    def __init__(self, tasks: TaskBatch, horizon: int, n_init: int = 2, max_delay: int = 3, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.tasks = tasks
        self.device = torch.device(device)
        self.horizon, self.n_init, self.max_delay = int(horizon), int(n_init), int(max_delay)
        B, K = tasks.values.shape
        self.gen = torch.Generator().manual_seed(int(seed))
        self.values = tasks.values.to(self.device)
        self.valid = torch.isfinite(self.values)
        self.noisy = torch.nan_to_num(self.values + tasks.noise_sd.to(self.device)[:, None]
                                      * torch.randn(B, K, generator=self.gen, dtype=torch.float64).to(self.device))
        self.delay = torch.randint(0, self.max_delay + 1, (B,), generator=self.gen).to(self.device)
        self.picked = torch.full((B, self.horizon), -1, dtype=torch.long, device=self.device)
        self.arrive = torch.zeros(B, self.horizon, dtype=torch.long, device=self.device)
        self.t = 0
        self.rows = torch.arange(B, device=self.device)
        for _ in range(self.n_init):
            weights = (self.valid & ~self._taken()).to(torch.float64).cpu()
            self._record(torch.multinomial(weights, 1, generator=self.gen).squeeze(-1).to(self.device), immediate=True)

    @property
    def n_done(self) -> int:
        """Experiments made so far in every campaign (initial ones included)."""
        return self.t

    @property
    def done(self) -> bool:
        return self.t >= self.horizon

    def _taken(self) -> Tensor:
        taken = torch.zeros_like(self.valid)
        if self.t:
            taken[self.rows[:, None], self.picked[:, : self.t]] = True
        return taken

    def _record(self, picks: Tensor, immediate: bool = False) -> None:
        self.picked[:, self.t] = picks
        self.arrive[:, self.t] = self.t if immediate else self.t + 1 + self.delay
        self.t += 1

    def best_true(self) -> Tensor:
        """Best true value among the experiments made so far (arrived or not), ``(B,)``."""
        v = self.values.gather(1, self.picked[:, : self.t])
        return v.amax(-1)

    def regret(self) -> Tensor:
        """Normalised simple regret of the experiments made so far, ``(B,)``."""
        return normalised_regret(self.values, self.best_true())

    def observe(self) -> Observation:
        """Features of every campaign at the current step (arrived results observed, others pending)."""
        t = self.t
        idx = self.picked[:, :t]
        arrived = self.arrive[:, :t] <= t
        cand = self.tasks.candidates.to(self.device)
        X = cand[self.rows[:, None], idx]
        y = self.noisy.gather(1, idx)
        allowed = self.valid & ~self._taken()
        pend_steps = torch.where(arrived, torch.full_like(self.arrive[:, :t], 10**9), self.arrive[:, :t])
        next_in = pend_steps.amin(-1) - t
        next_in = torch.where(next_in > 10**8, torch.zeros_like(next_in), next_in)
        feats = featurize(PosteriorInput(X, y, arrived, X, ~arrived, cand, allowed, self.tasks.dims.to(self.device)),
                          budget_used=torch.full((len(self.rows),), t / self.horizon, device=self.device),
                          time_to_next=next_in.to(torch.float64) / (self.max_delay + 1))
        return Observation(feats, allowed, feats.log_ei.argmax(-1))

    def step(self, picks: Tensor) -> Tensor:
        """Make one experiment per campaign (``picks`` ``(B,)`` candidate indices); returns the reward ``(B,)``.

        Raises:
            ValueError: a pick is not an allowed candidate (padding, or already made), or the campaign is over.
        """
        if self.done:
            raise ValueError(f"the campaigns are over ({self.horizon} experiments made)")
        picks = picks.to(self.device)
        allowed = self.valid & ~self._taken()
        if not bool(allowed.gather(1, picks[:, None]).all()):
            raise ValueError("a pick repeats an experiment or names a padding candidate")
        self._record(picks)
        return -self.regret() / self.horizon
