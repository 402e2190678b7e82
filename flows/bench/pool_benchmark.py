"""One ``lab bench pools`` run as a report: every pool, method and seed, summarised (:mod:`flows.bench.pool_report`).

:func:`pools_benchmark` is the programmatic entry point (the CLI and the tests call it); it returns
the JSON-able report documented in :mod:`flows.bench.pool_report`, plus ``reference`` (the authors'
shipped top-count file scored by :func:`lab.metrics.score_reference`) when that file lies next to
the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from flows.bench.machine import machine_info
from flows.bench.pool_report import plot_pool, pool_header, summarize
from flows.bench.pools import (
    DEFAULT_METHODS,
    MIN_EXPERIMENTS,
    RunResult,
    cached_pool,
    run_many,
)
from lab.metrics import score_reference
from lab.pool_manifest import find_pool, load_manifest

__all__ = ["ENGINE_NOTE", "REFERENCE_FILE", "pools_benchmark"]

REFERENCE_FILE = "reference_topcount_GP_M52iso_LCB2_crossed_barrel.csv"
ENGINE_NOTE = ("in-memory loop: same Policy objects (make_policy(..., candidates=pool rows)), CampaignState and "
               "Observation value objects, and the pool lookup instrument (lab.pools.Pool.measure) as a real "
               "campaign; no SQL ledger and no Prefect tasks (their per-experiment cost would dominate)")


def pools_benchmark(manifest: Path, pools: Sequence[str] = (), methods: Sequence[str] = DEFAULT_METHODS,
                    seeds: int = 30, batch: int = 1, budget: Optional[int] = None, until: float = 1.0,
                    workers: int = 1, plots: Optional[Path] = None, on_done: Optional[Callable[[RunResult], None]] = None) -> dict[str, Any]:
    """Run the benchmark and return its report.

    Args:
        manifest: the manifest JSON.
        pools: pool names (full, short or file stem); empty: every pool of the manifest.
        methods: policy names.
        seeds: seeds ``0 .. seeds - 1`` (the same for every method).
        batch: picks per cycle; budget: most experiments per run (default: pool size).
        until: stop a run once this fraction of the top rows is found (after 100 experiments).
        workers: processes; plots: folder for one PNG per pool.
    """
    t0 = time.perf_counter()
    specs = load_manifest(manifest)
    chosen = [find_pool(specs, name) for name in pools] if pools else specs
    runs = run_many(chosen, list(methods), list(range(seeds)), batch, budget, until, workers, on_done)
    report: dict[str, Any] = {
        "benchmark": "pools", "engine": ENGINE_NOTE,
        "config": {"manifest": str(manifest), "methods": list(methods), "seeds": seeds, "batch": batch,
                   "budget": budget, "until": until, "min_experiments": MIN_EXPERIMENTS, "n_initial": 2,
                   "workers": workers},
        "pools": {},
    }
    ref = Path(manifest).parent / REFERENCE_FILE
    if ref.exists():
        r = score_reference(ref)
        report["reference"] = {"file": str(ref), **{k: v for k, v in asdict(r).items() if k != "per_run"}}
    for spec in chosen:
        pool = cached_pool(spec)
        by_method: dict[str, list[RunResult]] = {m: [r for r in runs if r.pool == pool.name and r.method == m]
                                                 for m in methods}
        entry = pool_header(pool)
        entry["methods"] = {m: summarize(pool, rs) for m, rs in by_method.items() if rs}
        if plots is not None:
            entry["plot"] = str(plot_pool(pool, by_method, Path(plots) / f"{spec.short_name}_top_percent.png"))
        report["pools"][pool.name] = entry
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["machine"] = machine_info()
    return report
