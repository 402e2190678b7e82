"""``lab bench latency``: proposal time and memory of each policy as history and pool grow.

Synthetic data (no pool file): a 4-dimensional unit box, objective ``y = -||x - 0.3||^2`` plus a
seeded perturbation. Two axes, one line per point:

* **history**: ``n`` observations (10, 100, 300, 1000) and a fixed candidate set of 1000 points;
* **pool**: 100 observations and a candidate set of 1k, 10k or 50k points.

Every policy gets the candidate set (``make_policy(name, candidates=...)``), as in ``lab bench pools``.

**Time.** Each point times ``propose(state, 1)`` on a freshly built state (new observation objects,
so the encoding of the history is part of the time, as for a state read from the ledger), after a
warm-up call on a small state (imports, the candidate set's encodings). Calls are repeated while
they take under 2 s in all (at most 5) and the median is reported; slower points are timed once.
Torch runs on one thread.

**Memory.** ``peak_mib`` is the growth of the process's resident set during the timed call: Linux's
peak-RSS mark (``VmHWM``) is reset through ``/proc/self/clear_refs`` before the call and read after,
minus the resident set before it (``peak_rss_mib``: that peak itself). Unlike ``tracemalloc`` this sees torch's and scikit-learn's
buffers, and it costs nothing while the call runs. Where ``clear_refs`` cannot be written,
``peak_mib`` is ``None`` and only ``maxrss_mib`` (the process's high-water mark so far) is given.

**Cap.** Before a point is run, its time is predicted from the points of the same policy and axis
already measured (the power law through them); a point predicted to take longer than
``max_seconds`` is not run, and is reported as skipped with the prediction. The growth exponent is
the least-squares slope of ``log(seconds)`` on ``log(size)`` over the measured points of a policy
and axis (``exponents``); a fixed overhead flattens it at small sizes, so the slope between the two
largest measured points (``tail_exponents``) is reported too, closer to the growth at scale.
"""

from __future__ import annotations

import math
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lab.search_space import ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation
from policies.protocol import Policy

__all__ = ["HISTORY", "MAX_SECONDS", "POOLS", "growth_exponent", "latency_benchmark", "latency_table",
           "point_line", "predict_seconds"]

HISTORY = (10, 100, 300, 1000)
POOLS = (1_000, 10_000, 50_000)
HISTORY_AXIS_POOL = 1_000
POOL_AXIS_HISTORY = 100
#: Default cap: points predicted to take longer than this (s) are skipped.
MAX_SECONDS = 120.0
_DIM = 4
_REPEAT_BUDGET_S = 2.0
_MAX_REPEATS = 5
_SPACE = SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(_DIM)))


def _points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, _DIM))


def _state(n_obs: int, seed: int = 0) -> CampaignState:
    X = _points(n_obs, seed)
    y = -((X - 0.3) ** 2).sum(axis=1) + 0.01 * np.random.default_rng(seed + 1).standard_normal(n_obs)
    obs = tuple(Observation({f"x{i}": float(v) for i, v in enumerate(row)}, {"y": float(t)}) for row, t in zip(X, y))
    return CampaignState(_SPACE, (Objective("y"),), obs, seed=seed, decision_index=n_obs)


def _candidates(n: int) -> list[dict[str, float]]:
    return [{f"x{i}": float(v) for i, v in enumerate(row)} for row in _points(n, 99)]


def _maxrss_mib() -> float:
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0  # KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            m = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.MULTILINE)
    except OSError:
        return None
    return float(m.group(1)) if m else None


def _reset_peak_rss() -> bool:
    """Reset Linux's peak-RSS mark (``VmHWM``) to the current resident set; False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _timed_call(policy: Policy, state: CampaignState) -> tuple[float, float | None, float | None]:
    """``(seconds, peak RSS growth, peak RSS)`` of one ``propose(state, 1)`` (MiB; ``None`` where unknown)."""
    can_reset = _reset_peak_rss()
    before = _status_kib("VmRSS") if can_reset else None
    t0 = time.perf_counter()
    out = policy.propose(state, 1)
    seconds = time.perf_counter() - t0
    if len(out) != 1:
        raise RuntimeError(f"{policy!r} returned {len(out)} proposals for n=1")
    peak = _status_kib("VmHWM") if can_reset else None
    grown = None if peak is None or before is None else max(0.0, (peak - before) / 1024.0)
    return seconds, grown, None if peak is None else peak / 1024.0


def _measure(method: str, n_obs: int, candidates: list[dict[str, float]]) -> dict[str, Any]:
    from policies import make_policy

    policy = make_policy(method, candidates=candidates)
    policy.propose(_state(12, seed=1), 1)  # warm-up: imports, candidate encodings
    times: list[float] = []
    peaks: list[float] = []
    rss: list[float] = []
    spent = 0.0
    while not times or (spent < _REPEAT_BUDGET_S and len(times) < _MAX_REPEATS):
        state = _state(n_obs)  # new observation objects: their encoding is timed too
        seconds, peak, peak_rss = _timed_call(policy, state)
        times.append(seconds)
        if peak is not None and peak_rss is not None:
            peaks.append(peak)
            rss.append(peak_rss)
        spent += seconds
    return {"seconds": round(statistics.median(times), 5), "repeats": len(times),
            "peak_mib": round(max(peaks), 1) if peaks else None, "peak_rss_mib": round(max(rss), 1) if rss else None,
            "maxrss_mib": round(_maxrss_mib(), 1)}


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of ``log(seconds)`` on ``log(sizes)``; ``None`` with fewer than 2 points."""
    if len(sizes) < 2:
        return None
    slope, _ = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(seconds, float), 1e-9)), 1)
    return float(slope)


def predict_seconds(sizes: Sequence[float], seconds: Sequence[float], size: float) -> float | None:
    """Time at ``size`` on the power law fitted through the measured ``(sizes, seconds)`` (``None``: < 2 points).

    The exponent used is at least 1 (a policy's time does not grow more slowly than its input
    when extrapolated far), so that a noisy flat start does not hide a slow point.
    """
    if len(sizes) < 2:
        return None
    slope = max(1.0, growth_exponent(sizes, seconds) or 1.0)
    return float(seconds[-1]) * (float(size) / float(sizes[-1])) ** slope


def point_line(p: dict[str, Any]) -> str:
    """One printed line for a point."""
    where = f"{p['method']:>11}  {p['axis']:>7}={p['size']:>6} (history {p['history']}, pool {p['pool']})"
    if p.get("skipped"):
        return f"{where}: skipped, predicted {p['predicted_seconds']:.0f} s > cap {p['cap_seconds']:.0f} s"
    peak = "-" if p["peak_mib"] is None else f"{p['peak_mib']:.1f}"
    rss = "-" if p.get("peak_rss_mib") is None else f"{p['peak_rss_mib']:.0f}"
    return f"{where}: {p['seconds']:.4f} s (median of {p['repeats']}), peak RSS {rss} MiB (+{peak} MiB in the call)"


def latency_benchmark(methods: Sequence[str], quick: bool = False, max_seconds: float = MAX_SECONDS,
                      on_point: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Time ``propose(state, 1)`` of each method along both axes.

    Args:
        methods: policy names.
        quick: a smaller grid (history 10 and 100; pools 1k and 10k).
        max_seconds: skip a point whose predicted time exceeds this (see the module docstring).
        on_point: called with each point's dict as soon as it is measured or skipped.

    Returns:
        ``{"points": [{method, axis, size, history, pool, seconds, repeats, peak_mib, maxrss_mib,
        peak_rss_mib} or {..., skipped: True, predicted_seconds, cap_seconds}, ...], "exponents": {method: {"history":
        slope, "pool": slope}}, "tail_exponents": (the same over the two largest points), "machine": ...}``.
    """
    import torch

    from flows.bench.machine import machine_info

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    history = HISTORY[:2] if quick else HISTORY
    pools = POOLS[:2] if quick else POOLS
    machine_before = machine_info()
    cand_cache: dict[int, list[dict[str, float]]] = {}

    def cands(m: int) -> list[dict[str, float]]:
        if m not in cand_cache:
            cand_cache[m] = _candidates(m)
        return cand_cache[m]

    points: list[dict[str, Any]] = []
    for method in methods:
        grid = [("history", n, n, HISTORY_AXIS_POOL) for n in history]
        grid += [("pool", m, POOL_AXIS_HISTORY, m) for m in pools]
        for axis, size, n_obs, n_pool in grid:
            done = [p for p in points if p["method"] == method and p["axis"] == axis and not p.get("skipped")]
            predicted = predict_seconds([p["size"] for p in done], [p["seconds"] for p in done], size)
            base = {"method": method, "axis": axis, "size": size, "history": n_obs, "pool": n_pool}
            if predicted is not None and predicted > max_seconds:
                point = {**base, "skipped": True, "predicted_seconds": round(predicted, 1), "cap_seconds": max_seconds}
            else:
                point = {**base, **_measure(method, n_obs, cands(n_pool))}
            points.append(point)
            if on_point:
                on_point(point)
    exponents: dict[str, dict[str, float | None]] = {}
    tail: dict[str, dict[str, float | None]] = {}
    for m in methods:
        exponents[m], tail[m] = {}, {}
        for axis in ("history", "pool"):
            pts = [p for p in points if p["method"] == m and p["axis"] == axis and not p.get("skipped")]
            exponents[m][axis] = growth_exponent([p["size"] for p in pts], [p["seconds"] for p in pts])
            tail[m][axis] = growth_exponent([p["size"] for p in pts[-2:]], [p["seconds"] for p in pts[-2:]])
    return {"benchmark": "latency", "dim": _DIM, "history_sizes": list(history), "pool_sizes": list(pools),
            "history_axis_pool": HISTORY_AXIS_POOL, "pool_axis_history": POOL_AXIS_HISTORY,
            "cap_seconds": max_seconds, "torch_threads": torch.get_num_threads(), "points": points,
            "exponents": exponents, "tail_exponents": tail, "peak_memory": "growth of resident set during the call (VmHWM reset via "
            "/proc/self/clear_refs), MiB", "wall_s": round(time.perf_counter() - t0, 1),
            "machine_at_start": machine_before, "machine": machine_info(), "pid": os.getpid()}


def latency_table(report: dict[str, Any]) -> Any:
    """A rich table: one row per method, seconds per size (``skip`` where capped) and the fitted exponents."""
    from rich.table import Table

    t = Table(title="proposal latency, propose(state, 1) (s); peak = largest RSS growth of a call (MiB)")
    t.add_column("method")
    for n in report["history_sizes"]:
        t.add_column(f"hist {n}", justify="right")
    t.add_column("exp. hist (all / last 2)", justify="right")
    for m in report["pool_sizes"]:
        t.add_column(f"pool {m // 1000}k", justify="right")
    t.add_column("exp. pool (all / last 2)", justify="right")
    t.add_column("peak +MiB", justify="right")

    def cell(p: dict[str, Any]) -> str:
        return f"skip (~{p['predicted_seconds']:.0f})" if p.get("skipped") else f"{p['seconds']:.3f}"

    def fmt(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"

    for method, exps in report["exponents"].items():
        pts = [p for p in report["points"] if p["method"] == method]
        hist = [cell(p) for p in pts if p["axis"] == "history"]
        pool = [cell(p) for p in pts if p["axis"] == "pool"]
        peaks = [p["peak_mib"] for p in pts if not p.get("skipped") and p.get("peak_mib") is not None]
        tails = report.get("tail_exponents", {}).get(method, {})
        t.add_row(method, *hist, f"{fmt(exps['history'])} / {fmt(tails.get('history'))}", *pool,
                  f"{fmt(exps['pool'])} / {fmt(tails.get('pool'))}",
                  f"{max(peaks):.0f}" if peaks else "-")
    return t
