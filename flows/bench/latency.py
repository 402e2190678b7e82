"""``lab bench latency``: proposal time and memory of each policy as history and pool grow.

Synthetic data (no pool file): a 4-dimensional unit box, objective ``y = -||x - 0.3||^2`` plus a
seeded perturbation. Two axes, one line per point:

* **history**: ``n`` observations (10, 100, 300, 1000) and a fixed candidate set of 1000 points;
* **pool**: 100 observations and a candidate set of 1k, 10k or 50k points.

Each point times one ``propose(state, 1)`` after a warm-up call on a small state (imports, first
allocations) and records the peak of Python allocations during it (``tracemalloc``; torch and
scikit-learn buffers allocated in C are not seen there) and the process's peak resident set size
(``resource.getrusage`` ``ru_maxrss``, a high-water mark over the whole process). The growth exponent
is the least-squares slope of ``log(seconds)`` on ``log(size)`` per method and axis.
"""

from __future__ import annotations

import math
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lab.search_space import ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation

__all__ = ["HISTORY", "POOLS", "growth_exponent", "latency_benchmark", "latency_table"]

HISTORY = (10, 100, 300, 1000)
POOLS = (1_000, 10_000, 50_000)
_DIM = 4


def _space() -> SearchSpace:
    return SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(_DIM)))


def _points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, _DIM))


def _state(n_obs: int, seed: int = 0) -> CampaignState:
    X = _points(n_obs, seed)
    y = -((X - 0.3) ** 2).sum(axis=1) + 0.01 * np.random.default_rng(seed + 1).standard_normal(n_obs)
    obs = tuple(Observation({f"x{i}": float(v) for i, v in enumerate(row)}, {"y": float(t)}) for row, t in zip(X, y))
    return CampaignState(_space(), (Objective("y"),), obs, seed=seed, decision_index=n_obs)


def _candidates(n: int) -> list[dict[str, float]]:
    return [{f"x{i}": float(v) for i, v in enumerate(row)} for row in _points(n, 99)]


def _maxrss_mib() -> float:
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0  # KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _time_one(method: str, state: CampaignState, candidates: list[dict[str, float]]) -> tuple[float, float]:
    from policies import make_policy

    policy = make_policy(method, candidates=candidates)
    policy.propose(_state(12, seed=1), 1)  # warm-up: imports, candidate encodings
    tracemalloc.start()
    t0 = time.perf_counter()
    policy.propose(state, 1)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of ``log(seconds)`` on ``log(sizes)``; ``None`` with fewer than 2 points."""
    if len(sizes) < 2:
        return None
    slope, _ = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(seconds, float), 1e-9)), 1)
    return float(slope)


def latency_benchmark(methods: Sequence[str], quick: bool = False,
                      on_point: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Time ``propose(state, 1)`` of each method along both axes.

    Args:
        methods: policy names.
        quick: a smaller grid (history 10 and 100; pools 1k and 10k).
        on_point: called with each point's dict as soon as it is measured.

    Returns:
        ``{"points": [{method, axis, size, seconds, tracemalloc_peak_mib, maxrss_mib}, ...],
        "exponents": {method: {"history": slope, "pool": slope}}, "machine": ...}``.
    """
    from flows.bench.machine import machine_info

    history = HISTORY[:2] if quick else HISTORY
    pools = POOLS[:2] if quick else POOLS
    fixed = _candidates(1000)
    points: list[dict[str, Any]] = []
    for method in methods:
        grid = [("history", n, _state(n), fixed) for n in history]
        grid += [("pool", m, _state(100), _candidates(m)) for m in pools]
        for axis, size, state, cands in grid:
            seconds, peak = _time_one(method, state, cands)
            point = {"method": method, "axis": axis, "size": size, "seconds": round(seconds, 5),
                     "peak_mib": round(peak, 2), "maxrss_mib": round(_maxrss_mib(), 1)}
            points.append(point)
            if on_point:
                on_point(point)
    exponents = {m: {axis: growth_exponent([p["size"] for p in points if p["method"] == m and p["axis"] == axis],
                                           [p["seconds"] for p in points if p["method"] == m and p["axis"] == axis])
                     for axis in ("history", "pool")} for m in methods}
    return {"benchmark": "latency", "dim": _DIM, "history_sizes": list(history), "pool_sizes": list(pools),
            "history_axis_pool": 1000, "pool_axis_history": 100, "points": points, "exponents": exponents,
            "machine": machine_info()}


def latency_table(report: dict[str, Any]) -> Any:
    """A rich table: one row per method, seconds per size and the fitted exponents."""
    from rich.table import Table

    t = Table(title="proposal latency, propose(state, 1) (s)")
    t.add_column("method")
    for n in report["history_sizes"]:
        t.add_column(f"hist {n}", justify="right")
    t.add_column("exp. hist", justify="right")
    for m in report["pool_sizes"]:
        t.add_column(f"pool {m // 1000}k", justify="right")
    t.add_column("exp. pool", justify="right")
    for method, exps in report["exponents"].items():
        pts = [p for p in report["points"] if p["method"] == method]
        hist = [f"{p['seconds']:.3f}" for p in pts if p["axis"] == "history"]
        pool = [f"{p['seconds']:.3f}" for p in pts if p["axis"] == "pool"]
        fmt = (lambda x: "-" if x is None or not math.isfinite(x) else f"{x:.2f}")
        t.add_row(method, *hist, fmt(exps["history"]), *pool, fmt(exps["pool"]))
    return t
