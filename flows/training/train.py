"""``lab train``: imitation warm start then PPO on batched simulated campaigns, resumable.

A run lives in a directory::

    RUN/run.json         name, planned and completed iterations, device, config, final version
    RUN/curve.jsonl      held-out score against compute, one line per evaluation
    RUN/checkpoint.pt    network + optimiser + counters (tensors only; loaded with weights_only=True)
    RUN/policy.lab       the trained policy file (also stored in the ledger as a policy version)
    RUN/policy_best.lab  the policy at its best held-out evaluation (the checkpoint to ship)
    RUN/teachers.json    the three teachers' held-out scores, for comparison with the curve

Iterations ``0..imitation_iterations-1`` imitate, on each training task, the **best of the three
teachers on that task** (GP LogEI, trees' EI, GP UCB; best by area under the Top% curve), on the
teachers' own states and on the network's (DAgger); the rest are PPO on the Top% reward. Tasks mix
the families of :mod:`policies.rl.families` (ARD, MLP, grid, the training pools), the materials
world and isotropic GP draws, in the configured shares. Every ``eval_every`` iterations the
network runs on held-out tasks (other seeds, same mix) and the **score**, the mean share of top
rows found over the campaign (overall and per family), is appended to ``curve.jsonl`` with the
environment steps (teachers' included) and device-seconds spent so far (time in rollouts and
updates, not in evaluation). ``--resume`` continues from the last checkpoint, dropping curve
points written after it.
"""

from __future__ import annotations

import functools
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from flows.errors import TrainingConfigError
from flows.training.config import TrainConfig
from flows.training.pool_tasks import pool_families, train_pools_manifest
from flows.training.world_tasks import world_tasks
from policies.rl.checkpoint import PolicyBundle
from policies.rl.env import BatchedCampaigns
from policies.rl.evidence import FEATURE_SET, TEACHERS, FitSettings
from policies.rl.families import MLPTasks, StructuredGPTasks, TreeGridTasks
from policies.rl.network import AcquisitionNet
from policies.rl.ppo import (
    PPOSettings,
    best_teacher,
    imitation_loss,
    ppo_update,
    rollout,
    teacher_labels,
)
from policies.rl.tasks import RandomFeatureTasks, TaskBatch, TaskFamily, concat

__all__ = ["TrainResult", "pick_device", "train"]

Progress = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its directory, policy file, version, final held-out score and compute."""

    run_dir: Path
    policy_file: Path
    version: str
    score: float
    env_steps: int
    device_seconds: float
    device: str


def pick_device(requested: str | None) -> torch.device:
    """``cuda`` when present (or asked for), else ``cpu``.

    Raises:
        TrainingConfigError: ``cuda`` asked for but not available, or an unknown device name.
    """
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in ("cpu", "cuda"):
        raise TrainingConfigError(f"--device must be cpu or cuda, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingConfigError("--device cuda asked for, but torch sees no CUDA device here; use --device cpu")
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


class _Tasks:
    """Training and held-out task batches of a configuration: a fixed mix of families per batch."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rff = RandomFeatureTasks(dims=(cfg.dims_low, cfg.dims_high), lengthscale=(cfg.lengthscale_low,
                                      cfg.lengthscale_high), noise=(0.0, cfg.noise_high))
        dims = (cfg.dims_low, cfg.dims_high)
        self.families: list[tuple[float, TaskFamily, TaskFamily]] = [
            (cfg.ard_fraction, StructuredGPTasks(dims=dims), StructuredGPTasks(dims=dims)),
            (cfg.mlp_fraction, MLPTasks(dims=dims), MLPTasks(dims=dims)),
            (cfg.grid_fraction, TreeGridTasks(dims=dims), TreeGridTasks(dims=dims))]
        if cfg.world_fraction > 0:
            self.families.append((cfg.world_fraction,
                                  world_tasks(n_worlds=cfg.world_variants, n_candidates=cfg.world_candidates, seed=cfg.seed),
                                  world_tasks(n_worlds=cfg.world_variants, n_candidates=cfg.world_candidates,
                                              seed=cfg.eval_seed)))
        manifest = train_pools_manifest(cfg.train_pools) if cfg.pool_fraction > 0 else None
        self.pool_names: list[str] = []
        if manifest is not None:
            pools = pool_families(manifest)
            self.pool_names = [p.name for p in pools]
            for pool in pools:
                self.families.append((cfg.pool_fraction / len(pools), pool, pool))

    def _mix(self, n: int, seed: int, held_out: bool) -> TaskBatch:
        counts = [int(round(n * share)) for share, _, _ in self.families]
        parts = []
        for i, (count, (_, train_fam, eval_fam)) in enumerate(zip(counts, self.families)):
            if count:
                parts.append((eval_fam if held_out else train_fam).sample(count, seed + 7919 * i, self.cfg.candidates))
        rest = n - sum(counts)
        if rest > 0:
            parts.append(self.rff.sample(rest, seed, self.cfg.candidates))
        return concat(parts)

    def train(self, iteration: int) -> TaskBatch:
        return self._mix(self.cfg.envs, self.cfg.seed * 1_000_003 + iteration, False)

    def held_out(self) -> TaskBatch:
        return self._mix(self.cfg.eval_tasks, self.cfg.eval_seed, True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def _env(cfg: TrainConfig, tasks: TaskBatch, seed: int, device: torch.device) -> BatchedCampaigns:
    return BatchedCampaigns(tasks, cfg.horizon, cfg.n_init, cfg.max_delay, seed=seed, device=device,
                            fit=FitSettings(gp_steps=cfg.gp_steps, trees=cfg.trees), warm_steps=cfg.warm_steps)


def _held_out_score(net: AcquisitionNet, tasks: TaskBatch, cfg: TrainConfig, device: torch.device,
                    act: str = "sample") -> dict[str, float]:
    """Held-out **score**: the mean share of top rows found over the campaign (area under Top%),
    overall and per family, plus the median regret after 25 and 50 experiments."""
    env = _env(cfg, tasks, cfg.eval_seed, device)
    net.eval()
    r = rollout(net, env, torch.Generator().manual_seed(cfg.eval_seed), act=act)
    net.train()
    area = r.top.double().mean(0).cpu()
    out = {"score": float(area.mean())}
    for fam in sorted({f.split(":")[0] for f in tasks.family}):
        sel = torch.tensor([f.split(":")[0] == fam for f in tasks.family])
        out[f"score_{fam}"] = float(area[sel].mean())
    for n in (25, 50):
        if cfg.n_init < n <= cfg.horizon:
            out[f"median_regret_{n}"] = float(r.regret[n - 1 - cfg.n_init].median())
    return out


def _resume(run_dir: Path, net: AcquisitionNet, opt: torch.optim.Optimizer) -> dict[str, Any]:
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["opt"])
    curve = run_dir / "curve.jsonl"
    if curve.exists():
        kept = [ln for ln in curve.read_text().splitlines() if ln.strip() and json.loads(ln)["iteration"] <= state["iteration"]]
        curve.write_text("".join(ln + "\n" for ln in kept))
    return state


def _bundle(net: AcquisitionNet, state: dict[str, Any], cfg: TrainConfig) -> PolicyBundle:
    return PolicyBundle.from_net(net, {
        "trained_range": {"dims": state["seen_dims"], "lengthscale": state["seen_lengthscale"], "noise": state["seen_noise"]},
        "features": FEATURE_SET, "fit": {"gp_steps": cfg.gp_steps, "trees": cfg.trees},
        "horizon": cfg.horizon, "max_delay": cfg.max_delay, "train": cfg.to_dict(), "run": cfg.name,
        "iteration": int(state["iteration"])})


def train(cfg: TrainConfig, run_dir: Path, *, device: str | None = None, resume: bool = False,
          on_iteration: Progress | None = None) -> TrainResult:
    """Train (or resume) a run in ``run_dir``; returns the result with the saved policy file.

    Long by design: one loop owns the run's state (iteration, env steps, device time, the ranges
    seen), so that a checkpoint taken anywhere in it resumes bit for bit.

    Raises:
        TrainingConfigError: bad device; ``resume`` without a checkpoint; a fresh run into a directory
            that already holds one (pass ``resume`` or choose another directory).
    """
    dev = pick_device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.pt"
    if resume and not ckpt.exists():
        raise TrainingConfigError(f"--resume: {ckpt} does not exist; start a fresh run without --resume")
    if not resume and ckpt.exists():
        raise TrainingConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or another --run-dir")
    if resume:
        saved = json.loads((run_dir / "run.json").read_text())["config"]
        if saved != cfg.to_dict():
            raise TrainingConfigError(f"--resume: the configuration differs from the one {run_dir} was started with")
    torch.manual_seed(cfg.seed)
    tasks = _Tasks(cfg)
    held_out = tasks.held_out()
    net = AcquisitionNet(cfg.hidden, cfg.layers, cfg.hedge).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.imitation_lr)
    state: dict[str, Any] = {"iteration": 0, "env_steps": 0, "device_seconds": 0.0,
                             "seen_lengthscale": [float("inf"), 0.0], "seen_noise": [float("inf"), 0.0],
                             "seen_dims": [10**6, 0]}
    if resume:
        state = _resume(run_dir, net, opt)
    info = {"name": cfg.name, "planned_iterations": cfg.planned_iterations, "completed_iterations": state["iteration"],
            "device": device_name(dev), "config": cfg.to_dict(), "torch": torch.__version__}
    _write_json(run_dir / "run.json", info)
    settings = PPOSettings(cfg.ppo_epochs, cfg.ppo_minibatches, cfg.clip, entropy_coef=cfg.entropy_coef)
    gen = torch.Generator().manual_seed(cfg.seed * 7 + int(state["iteration"]))
    curve = run_dir / "curve.jsonl"
    if state["iteration"] == 0 and not resume:
        teachers = {name: _held_out_score(net, held_out, cfg, dev, act=f"teacher:{name}") for name in TEACHERS}
        _write_json(run_dir / "teachers.json", teachers)
        curve.write_text(json.dumps({"iteration": 0, "env_steps": 0, "device_seconds": 0.0,
                                     **_held_out_score(net, held_out, cfg, dev)}) + "\n")
    metrics: dict[str, Any] = {}
    for it in range(int(state["iteration"]), cfg.planned_iterations):
        t0 = time.perf_counter()
        imitation = it < cfg.imitation_iterations
        for group in opt.param_groups:
            group["lr"] = cfg.imitation_lr if imitation else cfg.ppo_lr
        batch = tasks.train(it)
        state["seen_dims"] = [min(state["seen_dims"][0], int(batch.dims.min())), max(state["seen_dims"][1], int(batch.dims.max()))]
        env_seed = cfg.seed * 1_000_003 + it
        r = rollout(net, _env(cfg, batch, env_seed, dev), gen)
        if imitation:
            best, teacher_runs = best_teacher(net, functools.partial(_env, cfg, batch, env_seed, dev), gen)
            sets = [(run, teacher_labels(run, best)) for run in (*teacher_runs, r)]
            for _ in range(cfg.imitation_epochs):
                for run, labels in sets:
                    order = torch.randperm(run.env_steps, generator=gen).to(dev)
                    for states in order.split(cfg.imitation_batch):
                        loss = imitation_loss(net, run, labels, states)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
            extra_steps = sum(run.env_steps for run in teacher_runs)
            share = torch.bincount(best.cpu(), minlength=len(TEACHERS)).double() / len(best)
            metrics = {"phase": "imitation", "imitation_loss": float(loss.detach()),
                       **{f"best_{name}": float(v) for name, v in zip(TEACHERS, share)}}
        else:
            extra_steps = 0
            metrics = {"phase": "ppo", **ppo_update(net, opt, r, settings, gen)}
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        state["device_seconds"] += time.perf_counter() - t0
        state["env_steps"] += r.env_steps + extra_steps
        state["iteration"] = it + 1
        for key, values in (("seen_lengthscale", r.lengthscale), ("seen_noise", r.noise)):
            state[key] = [min(state[key][0], float(values.min())), max(state[key][1], float(values.max()))]
        metrics["train_regret"] = float(r.regret[-1].mean())
        metrics["train_top"] = float(r.top.double().mean())
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.planned_iterations:
            metrics.update(_held_out_score(net, held_out, cfg, dev))
            with curve.open("a") as fh:
                fh.write(json.dumps({"iteration": it + 1, "env_steps": state["env_steps"],
                                     "device_seconds": round(state["device_seconds"], 3),
                                     **{k: metrics[k] for k in metrics if k.startswith(("score", "median"))}}) + "\n")
            if metrics["score"] > state.get("best_score", -1.0):
                state["best_score"], state["best_iteration"] = metrics["score"], it + 1
                _bundle(net, state, cfg).save(run_dir / "policy_best.lab")
        if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == cfg.planned_iterations:
            tmp = run_dir / "checkpoint.pt.tmp"
            torch.save({**state, "net": net.state_dict(), "opt": opt.state_dict()}, tmp)
            tmp.replace(ckpt)
            _write_json(run_dir / "run.json", {**info, "completed_iterations": it + 1})
        if on_iteration is not None:
            on_iteration(it + 1, metrics)
    bundle = _bundle(net, state, cfg)
    policy_file = run_dir / "policy.lab"
    bundle.save(policy_file)
    final = json.loads(curve.read_text().splitlines()[-1])
    _write_json(run_dir / "run.json", {**info, "completed_iterations": cfg.planned_iterations, "policy_version": bundle.version,
                                       "finished_at": datetime.now(timezone.utc).isoformat(), "final": final})
    return TrainResult(run_dir, policy_file, bundle.version, float(final["score"]), int(state["env_steps"]),
                       float(state["device_seconds"]), device_name(dev))
