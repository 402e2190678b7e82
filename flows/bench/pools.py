"""Sample-efficiency benchmark on real pools: ``lab bench pools`` (and ``lab bench latency``).

For each pool of a manifest, each method and each seed, one campaign runs: 2 initial rows drawn
from the seed (the same rows for every method), then ``propose -> measure -> observe`` cycles of
``batch`` picks until the budget, the pool, or the ``until`` fraction of top rows (after at least
:data:`MIN_EXPERIMENTS`) runs out. Metrics follow ``../shared/data/pools/README.md``
(:mod:`lab.metrics`); summaries, tables and plots are in :mod:`flows.bench.pool_report`.

**Engine.** Campaigns use the same :class:`~policies.protocol.Policy` objects (built by
:func:`policies.make_policy` with ``candidates=`` the pool rows), the same
:class:`~lab.state.CampaignState` / :class:`~lab.state.Observation` value objects and the pool
instrument (:meth:`lab.pools.Pool.measure`, a lookup) as a real campaign, in a light in-memory loop.
The full engine (SQL ledger, a Prefect task per instrument command) costs far more per experiment
than the policy itself, and this benchmark runs tens of thousands of experiments on 2 cores; the
loop skips the ledger and Prefect, never the decision.

The pool instrument lives in :mod:`lab.pools` (pure lookup) rather than ``simulators/``, because
only ``flows.campaign.runtime`` may import simulators and benchmark flows must not.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flows.errors import UsageError
from lab.pool_manifest import PoolSpec
from lab.pools import Pool, load_pool
from lab.state import CampaignState, Objective, Observation

__all__ = ["DEFAULT_METHODS", "MIN_EXPERIMENTS", "RunResult", "default_manifest", "initial_rows", "parse_method",
           "cached_pool", "run_campaign", "run_many"]

DEFAULT_METHODS = ("random", "sobol", "qlognei", "rf-ei", "gp-iso-lcb")
N_INITIAL = 2
#: A run stopped by ``until`` still goes on to this many experiments (the last ``top_at`` point).
MIN_EXPERIMENTS = 100
_POOLS: dict[tuple[str, ...], Pool] = {}


@dataclass(frozen=True)
class RunResult:
    """One campaign on one pool.

    Attributes:
        pool: pool name; method: policy name; seed: the run's seed.
        picked: pool row indices in the order they were run (the 2 initial rows first).
        stopped: why the run ended (``"budget"``, ``"exhausted"``, ``"until"``).
        fallbacks: decisions where the policy fell back to Sobol (too little data, model failure).
        wall_s: wall-clock seconds of the run (s).
    """

    pool: str
    method: str
    seed: int
    picked: tuple[int, ...]
    stopped: str
    fallbacks: int
    wall_s: float


def default_manifest() -> Path:
    """``$LAB_POOLS_DIR/manifest.json``, else ``../shared/data/pools/manifest.json`` from the cwd."""
    root = os.environ.get("LAB_POOLS_DIR")
    return Path(root) / "manifest.json" if root else Path("..") / "shared" / "data" / "pools" / "manifest.json"


def initial_rows(n_pool: int, seed: int, n_initial: int = N_INITIAL) -> list[int]:
    """The seed's initial rows: ``n_initial`` distinct indices in ``[0, n_pool)``, method-independent."""
    rng = np.random.default_rng([int(seed), 2021])
    return [int(i) for i in rng.choice(n_pool, size=min(n_initial, n_pool), replace=False)]


def parse_method(label: str) -> tuple[str, dict[str, Any]]:
    """``"name[:option=value[:option=value...]]"`` as ``(policy name, options)``.

    A value is read as JSON when it parses (``lam=3`` gives ``3``), else kept as a string
    (``fit=mle`` gives ``"mle"``). The whole label names the method in reports, so one run can
    compare ``gp-iso-lcb:fit=map`` with ``gp-iso-lcb:fit=mle``.

    Raises:
        ValueError: an option is not ``key=value``.
    """
    name, *parts = label.split(":")
    options: dict[str, Any] = {}
    for part in parts:
        key, eq, raw = part.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"method {label!r}: option {part!r} is not key=value")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return name.strip(), options


def run_campaign(pool: Pool, method: str, seed: int, batch: int = 1, budget: int | None = None,
                 until: float = 1.0, policy_options: dict[str, Any] | None = None) -> RunResult:
    """Run one pool campaign: initial rows, then propose / measure by lookup / observe.

    Args:
        pool: the pool (its rows are the only experiments allowed).
        method: a registered policy name, optionally with options (:func:`parse_method`).
        seed: campaign seed (initial rows and the policy's randomness).
        batch: proposals per cycle (``q``).
        budget: most experiments, initial rows included (default: the pool size).
        until: stop once this fraction of the top rows is found (and :data:`MIN_EXPERIMENTS` are run).
        policy_options: options passed to :func:`policies.make_policy` (over those of ``method``).

    Raises:
        RuntimeError: the policy proposed nothing while untried rows and budget remained.
    """
    from policies import make_policy

    t0 = time.perf_counter()
    budget = pool.n if budget is None else min(int(budget), pool.n)
    name, options = parse_method(method)
    policy = make_policy(name, candidates=pool.candidates(), **{**options, **(policy_options or {})})
    objective = Objective(pool.objective, pool.direction)
    top = set(pool.top)
    need = max(1, int(np.ceil(until * pool.n_top - 1e-9)))
    picked = initial_rows(pool.n, seed)[:budget]
    obs = [Observation(pool.params_of(i), {pool.objective: float(pool.y[i])}) for i in picked]
    found = sum(i in top for i in picked)
    fallbacks, decision, stopped = 0, 0, "budget"
    while True:
        if len(picked) >= budget:
            stopped = "exhausted" if len(picked) >= pool.n else "budget"
            break
        if found >= need and len(picked) >= min(MIN_EXPERIMENTS, budget):
            stopped = "until"
            break
        state = CampaignState(pool.space, (objective,), tuple(obs), budget_remaining=budget - len(picked),
                              decision_index=decision, seed=seed)
        proposals = policy.propose(state, batch)
        if not proposals:
            raise RuntimeError(f"{method} proposed nothing on {pool.name} with {pool.n - len(picked)} rows untried")
        for p in proposals:
            i = pool.index_of(p.params)
            value = pool.measure(p.params)
            obs.append(Observation(p.params, {pool.objective: value}))
            picked.append(i)
            found += i in top
        fallbacks += any(p.fallback is not None for p in proposals)
        decision += 1
    return RunResult(pool.name, method, int(seed), tuple(picked), stopped, fallbacks, time.perf_counter() - t0)


def cached_pool(spec: PoolSpec) -> Pool:
    """The loaded pool of ``spec``, read once per process (per file, name and replicates choice)."""
    key = (str(spec.path), spec.name, spec.replicates)
    if key not in _POOLS:
        _POOLS[key] = load_pool(spec)
    return _POOLS[key]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _task(spec: PoolSpec, method: str, seed: int, batch: int, budget: int | None, until: float) -> RunResult:
    return run_campaign(cached_pool(spec), method, seed, batch, budget, until)


def run_many(specs: Sequence[PoolSpec], methods: Sequence[str], seeds: Sequence[int], batch: int = 1,
             budget: int | None = None, until: float = 1.0, workers: int = 1,
             on_done: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Every (pool, method, seed) campaign, serially or on ``workers`` processes (1 torch thread each).

    Returns:
        The runs, sorted by pool, method and seed.
    """
    jobs = [(s, m, int(seed), batch, budget, until) for s in specs for m in methods for seed in seeds]
    # slow model-based methods on big pools first, so the workers finish together
    jobs.sort(key=lambda j: (parse_method(j[1])[0] in ("random", "sobol"), -len(cached_pool(j[0]).y)))
    results: list[RunResult] = []
    if workers <= 1:
        _init_worker()
        for job in jobs:
            results.append(_task(*job))
            if on_done:
                on_done(results[-1])
    else:
        # fork: the parent has not started torch's thread pools (it only reads pools with numpy)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as ex:
            futures = [ex.submit(_task, *job) for job in jobs]
            for fut in as_completed(futures):
                results.append(fut.result())
                if on_done:
                    on_done(results[-1])
    order = {m: k for k, m in enumerate(methods)}
    return sorted(results, key=lambda r: (r.pool, order.get(r.method, 99), r.seed))
