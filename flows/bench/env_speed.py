"""``lab bench env``: environment steps per second of RL training, per device and thread count.

One measurement = one rollout of the training environment (:class:`policies.rl.env.BatchedCampaigns`,
features from both surrogates, the network choosing) over a fixed batch of training tasks, after a
warm-up rollout; steps are campaigns x decisions. The same tasks and seeds for every setting, so
rows compare side by side. On CUDA the rollout is synchronised before the clock stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from policies.rl.env import BatchedCampaigns
from policies.rl.evidence import FitSettings
from policies.rl.families import StructuredGPTasks, TreeGridTasks
from policies.rl.network import AcquisitionNet
from policies.rl.ppo import rollout
from policies.rl.tasks import RandomFeatureTasks, concat

__all__ = ["SpeedRow", "measure"]


@dataclass(frozen=True)
class SpeedRow:
    """One setting: device, torch threads, campaigns, candidates, horizon, env steps, seconds, steps/s."""

    device: str
    threads: int
    envs: int
    candidates: int
    horizon: int
    steps: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


def measure(device: str, threads: int, envs: int, candidates: int, horizon: int, seed: int = 0) -> SpeedRow:
    """Time one rollout (after a short warm-up) of ``envs`` campaigns on ``device`` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    third = max(1, envs // 3)
    tasks = concat([RandomFeatureTasks().sample(envs - 2 * third, seed, candidates),
                    StructuredGPTasks().sample(third, seed, candidates), TreeGridTasks().sample(third, seed, candidates)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AcquisitionNet().to(dev)
    fit = FitSettings()
    rollout(net, BatchedCampaigns(tasks, 5, seed=seed, device=dev, fit=fit), torch.Generator().manual_seed(0))
    env = BatchedCampaigns(tasks, horizon, seed=seed, device=dev, fit=fit)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    r = rollout(net, env, torch.Generator().manual_seed(0))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return SpeedRow(name, threads, envs, candidates, horizon, r.env_steps, time.perf_counter() - t0)
