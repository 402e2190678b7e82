"""``lab bench rl``: policies side by side on held-out simulated tasks with delayed results.

Each task (drawn from seeds never used in training: :data:`HELD_OUT_SEED` onwards) is a search
space, ``candidates`` feasible points and their true values (:mod:`policies.rl.tasks`). Every
method runs the same campaign on it through the :class:`~policies.protocol.Policy` protocol, the
code path of a real campaign: the same 2 random initial experiments, then one pick per decision,
each result arriving ``delay`` decisions later (0-3, drawn per task) and pending until then, up to
``horizon`` experiments. Per task and method the normalised simple regret after each experiment
is kept ((best - best found) / (best - median)).

Summary per method: median regret after 25 and 50 experiments with bootstrap intervals; and the
**experiments ratio**: qLogNEI's median regret after ``horizon`` experiments, ``r*``; the
experiments qLogNEI's median curve needs to reach ``r*`` divided by the experiments the method's
median curve needs (greater than 1: fewer experiments than qLogNEI).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flows.errors import UsageError
from lab.metrics import median_ci
from lab.state import CampaignState, Objective, Observation, PendingExperiment
from policies.registry import make_policy
from policies.rl.tasks import RandomFeatureTasks, TaskBatch, concat

__all__ = ["FAMILIES", "HELD_OUT_SEED", "SimRun", "experiments_ratio", "held_out_tasks", "run_task", "summarise"]

#: Task seeds from here on are never used by ``lab train`` (its tasks use ``seed * 1_000_003 + iteration``
#: with small iterations, and its held-out curve uses ``eval_seed``); see ``flows.training.config``.
HELD_OUT_SEED = 7_000_000


@dataclass(frozen=True)
class SimRun:
    """One method on one task: regret after each experiment ``(horizon,)`` and wall seconds."""

    method: str
    task: int
    family: str
    regret: tuple[float, ...]
    wall_s: float
    fallbacks: int


#: Task families ``lab bench rl`` can draw (:mod:`policies.rl.families`; ``pool``: the training pools).
FAMILIES = ("rff", "ard", "mlp", "grid", "pool")


def held_out_tasks(n: int, candidates: int, seed: int = HELD_OUT_SEED, dims: tuple[int, int] = (2, 6),
                   families: Sequence[str] = ("rff",)) -> TaskBatch:
    """``n`` tasks of each family from held-out seeds (``rff``: isotropic GP draws over continuous, mixed
    and compositional spaces; the others as in training, ``pool`` spread over the training pools).

    Raises:
        ValueError: an unknown family, or ``pool`` without a training-pools manifest.
    """
    from flows.training.pool_tasks import pool_families, train_pools_manifest
    from policies.rl.families import MLPTasks, StructuredGPTasks, TreeGridTasks

    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise UsageError(f"unknown task famil(ies) {unknown}; expected some of {list(FAMILIES)}")
    parts = []
    for k, fam in enumerate(families):
        s = seed + 7919 * k
        if fam == "rff":
            parts.append(RandomFeatureTasks(dims=dims).sample(n, s, candidates))
        elif fam == "ard":
            parts.append(StructuredGPTasks(dims=dims).sample(n, s, candidates))
        elif fam == "mlp":
            parts.append(MLPTasks(dims=dims).sample(n, s, candidates))
        elif fam == "grid":
            parts.append(TreeGridTasks(dims=dims).sample(n, s, candidates))
        else:
            manifest = train_pools_manifest()
            if manifest is None:
                raise UsageError("family 'pool' needs the training pools: set $LAB_TRAIN_POOLS_DIR")
            pools = pool_families(manifest)
            counts = [n // len(pools) + (j < n % len(pools)) for j in range(len(pools))]
            parts += [p.sample(c, s + j, candidates) for j, (p, c) in enumerate(zip(pools, counts)) if c]
    return concat(parts)


def run_task(tasks: TaskBatch, i: int, method: str, horizon: int, max_delay: int = 3,
             options: dict[str, Any] | None = None) -> SimRun:
    """Run ``method`` on task ``i`` of ``tasks`` (see module docstring)."""
    t0 = time.perf_counter()
    valid = ~np.isnan(tasks.values[i].numpy())
    values = tasks.values[i].numpy()[valid]
    params = [p for p, ok in zip(tasks.params[i], valid) if ok]
    space = tasks.spaces[i]
    rng = np.random.default_rng([HELD_OUT_SEED, i])
    delay = int(rng.integers(0, max_delay + 1))
    noise = float(tasks.noise_sd[i]) * rng.standard_normal(len(values))
    policy = make_policy(method, candidates=params, **(options or {}))
    key = {tuple(space.encode(p)): j for j, p in enumerate(params)}
    picked = [int(j) for j in rng.choice(len(values), 2, replace=False)]
    arrive = [0, 0]
    objective = Objective("y")
    fallbacks = 0
    for t in range(2, horizon):
        obs = tuple(Observation(params[j], {"y": float(values[j] + noise[j])}) for j, a in zip(picked, arrive) if a <= t)
        pend = tuple(PendingExperiment(params[j]) for j, a in zip(picked, arrive) if a > t)
        state = CampaignState(space, (objective,), obs, pend, budget_remaining=horizon - t, decision_index=t - 2, seed=i)
        (proposal,) = policy.propose(state, 1)
        fallbacks += proposal.fallback is not None
        picked.append(key[tuple(space.encode(proposal.params))])
        arrive.append(t + 1 + delay)
    best = np.maximum.accumulate(values[picked])
    regret = (values.max() - best) / max(values.max() - float(np.median(values)), 1e-12)
    return SimRun(method, i, tasks.family[i], tuple(float(r) for r in regret), time.perf_counter() - t0, fallbacks)


def _reach(curve: np.ndarray, target: float) -> int | None:
    hit = np.nonzero(curve <= target + 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else None


def experiments_ratio(baseline: np.ndarray, method: np.ndarray) -> tuple[float | None, int | None, int | None, float]:
    """``(ratio, n_baseline, n_method, r*)`` from regret matrices ``(tasks, horizon)`` (see module docstring)."""
    base_med, meth_med = np.median(baseline, 0), np.median(method, 0)
    target = float(base_med[-1])
    nb, nm = _reach(base_med, target), _reach(meth_med, target)
    return (None if nb is None or nm is None else nb / nm), nb, nm, target


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def paired_experiments(baseline: np.ndarray, method: np.ndarray) -> tuple[list[int], list[int | None]]:
    """Per task: experiments the baseline needs to reach its own final regret, and the method to reach it."""
    nb, nm = [], []
    for b, m in zip(baseline, method):
        nb.append(_reach(b, float(b[-1])) or len(b))
        nm.append(_reach(m, float(b[-1])))
    return nb, nm


def summarise_by_family(runs: Sequence[SimRun], n_boot: int = 2000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`summarise` over all tasks (``"all"``) and over each family's tasks (label before ``:``)."""
    out = {"all": summarise(runs, n_boot, seed)}
    for fam in sorted({r.family.split(":")[0] for r in runs}):
        out[fam] = summarise([r for r in runs if r.family.split(":")[0] == fam], n_boot, seed)
    return out


def summarise(runs: Sequence[SimRun], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Per method: median and mean regret at 25 and 50 (median with bootstrap intervals); against
    qLogNEI, the experiments ratio of the median curves (bootstrap interval over tasks, resampled in
    pairs) and, per task, the experiments needed to reach qLogNEI's final regret on that task."""
    methods = sorted({r.method for r in runs}, key=[r.method for r in runs].index)
    mats = {m: np.array([r.regret for r in sorted((r for r in runs if r.method == m), key=lambda r: r.task)])
            for m in methods}
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for m, mat in mats.items():
        row: dict[str, Any] = {"tasks": int(mat.shape[0]), "wall_s": float(sum(r.wall_s for r in runs if r.method == m)),
                               "fallbacks": int(sum(r.fallbacks for r in runs if r.method == m))}
        for n in (25, 50):
            if n <= mat.shape[1]:
                med, lo, hi = median_ci(mat[:, n - 1].tolist(), n_boot=n_boot)
                row[f"regret_{n}"] = {"median": med, "ci": [lo, hi], "mean": float(mat[:, n - 1].mean())}
        if "qlognei" in mats and m != "qlognei":
            ratio, nb, nm, target = experiments_ratio(mats["qlognei"], mat)
            boots = []
            for _ in range(n_boot // 4):
                idx = rng.integers(0, mat.shape[0], mat.shape[0])
                r = experiments_ratio(mats["qlognei"][idx], mat[idx])[0]
                boots.append(np.nan if r is None else r)
            b = np.array(boots, dtype=float)
            nq, nmeth = paired_experiments(mats["qlognei"], mat)
            row["paired"] = {"qlognei_median": float(np.median(nq)),
                             "method_median": _finite_or_none(float(np.median([math.inf if n is None else n for n in nmeth]))),
                             "method_never": sum(n is None for n in nmeth),
                             "faster_tasks": sum(n is not None and n < q for n, q in zip(nmeth, nq)),
                             "slower_tasks": sum(n is None or n > q for n, q in zip(nmeth, nq))}
            row["vs_qlognei"] = {"ratio": ratio, "qlognei_experiments": nb, "method_experiments": nm, "target_regret": target,
                                 "ci": [float(np.nanpercentile(b, 2.5)), float(np.nanpercentile(b, 97.5))] if np.isfinite(b).any() else None,
                                 "never_reached_share": float(np.isnan(b).mean())}
        out[m] = row
    return out


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


def _job(args: tuple[TaskBatch, int, str, int, int]) -> SimRun:
    import torch

    torch.set_num_threads(1)
    tasks, i, method, horizon, delay = args
    return run_task(tasks, i, method, horizon, delay)


def run_all(tasks: TaskBatch, methods: Sequence[str], horizon: int, max_delay: int = 3, workers: int = 1,
            on_done: Callable[[SimRun], None] | None = None) -> list[SimRun]:
    """Every method on every task (in ``workers`` processes), ordered by method then task."""
    jobs = [(tasks, i, m, horizon, max_delay) for m in methods for i in range(len(tasks))]
    runs: list[SimRun] = []
    if workers <= 1:
        for job in jobs:
            runs.append(_job(job))
            if on_done:
                on_done(runs[-1])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            for fut in as_completed([ex.submit(_job, job) for job in jobs]):
                runs.append(fut.result())
                if on_done:
                    on_done(runs[-1])
    order = {m: k for k, m in enumerate(methods)}
    return sorted(runs, key=lambda r: (order[r.method], r.task))
