"""Many simulated campaigns stepped at once, with results that arrive late.

Each environment is one task (:class:`~policies.rl.tasks.TaskBatch` row). A campaign starts with
``n_init`` random experiments whose results are known, then makes one pick per step. A pick's
result arrives ``delay`` steps later (drawn per campaign from ``0..max_delay``): until then it is
*pending*, visible to the policy as an experiment in flight, its value unknown. This is the
overnight lab in miniature: decisions are made while earlier ones are still in the furnace.

**Reward: the benchmark's own objective.** A task's *top rows* are its best ``ceil(top_fraction *
K)`` candidates by true value (at least 1), as in the pool benchmark (Liang et al.'s Top%). The
reward of a step is the share of top rows found so far, over the horizon, so an episode's return
is the area under the Top% curve: finding the top rows, and finding them early, is what pays.
The reward is credited to the decision at once (the simulator knows the truth) while the policy
still *sees* only arrived results. :meth:`regret` (normalised simple regret) is kept for reports.

**Surrogate fits carry over.** Each step's GP fit starts from the previous step's
hyper-parameters (``warm_steps`` Adam steps; the first fit of an episode takes ``FitSettings.gp_steps``),
which is what keeps thousands of fits per second affordable.

Example:
    >>> from policies.rl.tasks import RandomFeatureTasks
    >>> tasks = RandomFeatureTasks(kinds=("continuous",), dims=(2, 2)).sample(3, seed=1, n_candidates=20)
    >>> env = BatchedCampaigns(tasks, horizon=6, max_delay=2, seed=0)
    >>> obs = env.observe()
    >>> tuple(obs.features.teachers.shape)
    (3, 4)
    >>> reward = env.step(obs.features.teachers[:, 0])
    >>> tuple(reward.shape), env.n_done
    ((3,), 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from policies.rl.evidence import EvidenceInput, Features, FitSettings, featurize
from policies.rl.tasks import TaskBatch

__all__ = ["BatchedCampaigns", "Observation", "normalised_regret", "top_rows"]

TOP_FRACTION = 0.05


@dataclass(frozen=True)
class Observation:
    """What the policy sees at one step: features and the allowed candidates ``(B, K)``."""

    features: Features
    mask: Tensor


def normalised_regret(values: Tensor, best_so_far: Tensor) -> Tensor:
    """``(max - best_so_far) / (max - median)`` per task; ``values`` ``(B, K)`` (NaN padding), ``best_so_far`` ``(B,)``."""
    top = torch.nan_to_num(values, nan=-torch.inf).amax(-1)
    med = torch.nanmedian(values, -1).values
    return (top - best_so_far) / (top - med).clamp_min(1e-12)


def top_rows(values: Tensor, fraction: float = TOP_FRACTION) -> Tensor:
    """Which candidates are top rows ``(B, K)`` bool: the ``ceil(fraction * K_b)`` best (at least 1) of
    each task's real candidates (NaN values are padding)."""
    valid = torch.isfinite(values)
    n_top = torch.ceil(fraction * valid.sum(-1).to(torch.float64) - 1e-9).clamp_min(1).long()
    order = torch.nan_to_num(values, nan=-math.inf).argsort(-1, descending=True).argsort(-1)
    return (order < n_top[:, None]) & valid


class BatchedCampaigns:
    """``B`` campaigns over finite candidate sets, stepped together.

    Args:
        tasks: the tasks (one campaign each).
        horizon: experiments per campaign, initial ones included.
        n_init: initial random experiments (results known at the start).
        max_delay: a pick's result arrives after ``0..max_delay`` further steps (per campaign).
        seed: initial picks, delays, noise and (with the step) the trees' randomness.
        device: where features are computed.
        fit: surrogate settings; warm_steps: GP Adam steps when starting from the previous fit.
    """

    def __init__(self, tasks: TaskBatch, horizon: int, n_init: int = 2, max_delay: int = 3, seed: int = 0,
                 device: str | torch.device = "cpu", fit: FitSettings = FitSettings(), warm_steps: int = 6) -> None:
        self.tasks = tasks
        self.device = torch.device(device)
        self.horizon, self.n_init, self.max_delay = int(horizon), int(n_init), int(max_delay)
        self.fit, self.warm_steps = fit, int(warm_steps)
        B, K = tasks.values.shape
        self.gen = torch.Generator().manual_seed(int(seed))
        self.values = tasks.values.to(self.device)
        self.valid = torch.isfinite(self.values)
        self.top = top_rows(self.values)
        self.n_top = self.top.sum(-1).to(torch.float64)
        self.noisy = torch.nan_to_num(self.values + tasks.noise_sd.to(self.device)[:, None]
                                      * torch.randn(B, K, generator=self.gen, dtype=torch.float64).to(self.device))
        self.delay = torch.randint(0, self.max_delay + 1, (B,), generator=self.gen).to(self.device)
        self.picked = torch.full((B, self.horizon), -1, dtype=torch.long, device=self.device)
        self.arrive = torch.zeros(B, self.horizon, dtype=torch.long, device=self.device)
        self.t = 0
        self.rows = torch.arange(B, device=self.device)
        self.seed = int(seed)
        # the GP fit of step t starts from step t-1's; observing twice at one step gives the same features
        self._fits: dict[int, Features] = {}
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
        return self.values.gather(1, self.picked[:, : self.t]).amax(-1)

    def regret(self) -> Tensor:
        """Normalised simple regret of the experiments made so far, ``(B,)``."""
        return normalised_regret(self.values, self.best_true())

    def top_found(self) -> Tensor:
        """Share of the top rows among the experiments made so far (arrived or not), ``(B,)``."""
        return self.top.gather(1, self.picked[:, : self.t]).sum(-1).to(torch.float64) / self.n_top

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
        order = torch.arange(t, device=self.device).expand(len(self.rows), t)
        order = torch.where(arrived, self.arrive[:, :t], order)  # observed in order of arrival
        batch = EvidenceInput(X, y, arrived, X, ~arrived, cand, allowed, self.tasks.dims.to(self.device),
                              next_in.to(torch.float64) / (self.max_delay + 1), order)
        prev = self._fits.get(t - 1)
        settings = self.fit if prev is None else replace(self.fit, gp_steps=self.warm_steps)
        trees = torch.Generator().manual_seed(self.seed * 1_000_003 + t)
        feats = featurize(batch, settings=settings, gp_init=None if prev is None else (prev.gp_lengthscale, prev.gp_noise),
                          iso_init=None if prev is None else prev.iso_fit, generator=trees)
        self._fits = {k: v for k, v in self._fits.items() if k >= t - 1}
        self._fits[t] = feats
        return Observation(feats, allowed)

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
        return self.top_found() / (self.horizon - self.n_init)
