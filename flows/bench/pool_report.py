"""Summaries, tables and plots of pool benchmark runs (:mod:`flows.bench.pools`).

Per pool and method (:func:`summarize`), over the seeds:

* ``experiments_to_top80``: per-run experiments to first reach Top% 0.8 (initial rows included):
  median with a seeded 95 % bootstrap CI, interquartile range, and how many runs reached it;
* ``af_80``: Liang et al.'s aggregation, ``ceil(0.8 N)`` over the first experiment at which the
  **mean** Top% curve reaches 0.8; ``af_80_median``: the same over the per-run median;
* ``ef_max`` (and where): the largest ``EF(i)`` of the mean Top% curve;
* ``top_at``: median and mean Top% after 25, 50 and 100 experiments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flows.bench.pools import RunResult
from lab.metrics import (
    acceleration_factor,
    enhancement_factor,
    experiments_to_reach,
    mean_curve,
    median_ci,
    random_experiments_to_reach,
    top_curve,
)
from lab.pools import Pool

__all__ = ["TOP_AT", "plot_pool", "pool_header", "replicates_note", "summarize", "table"]

TOP_AT = (25, 50, 100)
TARGET = 0.8


def _num(x: float | None, digits: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def curves_of(pool: Pool, runs: Sequence[RunResult]) -> list[np.ndarray]:
    """Top% curve of each run, shape ``(len(picked),)`` each."""
    return [top_curve(r.picked, pool.top) for r in runs]


def summarize(pool: Pool, runs: Sequence[RunResult], seed: int = 0) -> dict[str, Any]:
    """The JSON summary of one method's runs on ``pool`` (keys in the module docstring)."""
    curves = curves_of(pool, runs)
    reach = [experiments_to_reach(c, TARGET, pool.n_top) for c in curves]
    med, lo, hi = median_ci(reach, seed=seed)
    finite = [v for v in reach if v is not None]
    as_float = [math.inf if v is None else float(v) for v in reach]
    q25, q75 = np.percentile(as_float, [25, 75], method="linear" if len(finite) == len(reach) else "nearest").tolist()
    agg = mean_curve(curves, length=pool.n)
    n_mean = experiments_to_reach(agg, TARGET, pool.n_top)
    ef = enhancement_factor(agg, pool.n)
    top_at: dict[str, Any] = {}
    for i in TOP_AT:
        vals = [float(c[min(i, len(c)) - 1]) for c in curves if len(c) >= i or c[-1] >= 1.0]
        top_at[str(i)] = {"median": _num(float(np.median(vals))) if vals else None,
                          "mean": _num(float(np.mean(vals))) if vals else None, "runs": len(vals)}
    return {
        "seeds": [r.seed for r in runs],
        "experiments_to_top80": {"median": _num(med, 1), "ci95": [_num(lo, 1), _num(hi, 1)],
                                 "iqr": [_num(q25, 1), _num(q75, 1)], "reached": len(finite), "runs": len(reach),
                                 "per_run": reach},
        "af_80": _num(acceleration_factor(n_mean, pool.n, TARGET)),
        "af_80_mean_curve_experiments": n_mean,
        "af_80_median": _num(acceleration_factor(med, pool.n, TARGET)),
        "af_80_median_ci95": [_num(acceleration_factor(hi, pool.n, TARGET)),
                              _num(acceleration_factor(lo, pool.n, TARGET))],
        "ef_max": _num(float(ef.max())), "ef_max_at": int(np.argmax(ef)) + 1,
        "top_at": top_at,
        "fallback_decisions": int(sum(r.fallbacks for r in runs)),
        "stopped": {k: sum(r.stopped == k for r in runs) for k in ("until", "budget", "exhausted")},
        "wall_s_per_run": _num(float(np.mean([r.wall_s for r in runs])), 2),
    }


def pool_header(pool: Pool) -> dict[str, Any]:
    """Pool facts for the JSON report."""
    return {"name": pool.name, "file": str(pool.spec.path), "n": pool.n, "n_top": pool.n_top,
            "raw_rows": pool.raw_rows, "merged_rows": pool.merged_rows, "replicate_groups": pool.replicate_groups,
            "replicates": pool.spec.replicates, "top_fraction": pool.spec.top_fraction, "objective": pool.objective, "direction": pool.direction,
            "space": pool.space.to_dict(), "n_random_80": random_experiments_to_reach(pool.n, TARGET)}


def replicates_note(pool: Pool) -> str:
    """One line: how many replicate rows of ``pool`` were merged, and how.

    Example: ``"t/p: 3 replicate rows merged by their mean (7 rows read, 2 inputs measured more
    than once, N=4)"``.
    """
    how = "by their mean" if pool.spec.replicates == "mean" else "keeping the first value"
    return (f"{pool.name}: {pool.merged_rows} replicate rows merged {how} ({pool.raw_rows} rows read, "
            f"{pool.replicate_groups} inputs measured more than once, N={pool.n})")


def table(pool: Pool, methods: dict[str, dict[str, Any]]) -> Any:
    """A rich table of one pool's summaries."""
    from rich.table import Table

    t = Table(title=f"{pool.name}: N={pool.n}, n_top={pool.n_top}, random reaches 80% at "
                    f"{random_experiments_to_reach(pool.n, TARGET)}")
    for col in ("method", "seeds", "exp. to 80% median [95% CI]", "IQR", "AF(0.8)", "AF(0.8) median",
                "EF max", *(f"Top%({i})" for i in TOP_AT)):
        t.add_column(col, justify="right" if col != "method" else "left")

    def fmt(x: Any, pattern: str = "{:.2f}") -> str:
        return "-" if x is None else pattern.format(x)

    for name, s in methods.items():
        e = s["experiments_to_top80"]
        reached = "" if e["reached"] == e["runs"] else f" ({e['reached']}/{e['runs']} reached)"
        t.add_row(name, str(e["runs"]),
                  f"{fmt(e['median'], '{:.1f}')} [{fmt(e['ci95'][0], '{:.0f}')}, {fmt(e['ci95'][1], '{:.0f}')}]{reached}",
                  f"{fmt(e['iqr'][0], '{:.0f}')}-{fmt(e['iqr'][1], '{:.0f}')}", fmt(s["af_80"]),
                  fmt(s["af_80_median"]), fmt(s["ef_max"]),
                  *(fmt(s["top_at"][str(i)]["median"]) for i in TOP_AT))
    return t


def plot_pool(pool: Pool, runs_by_method: Mapping[str, Sequence[RunResult]], path: Path) -> Path:
    """Top% against experiments, every method on one PNG: mean curve, IQR band, random baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    x = np.arange(1, pool.n + 1)
    ax.plot(x, x / pool.n, "k--", lw=1.2, label="random (exact, i/N)")
    for name, runs in runs_by_method.items():
        curves = curves_of(pool, runs)
        mean = mean_curve(curves, length=pool.n)
        q = np.quantile(np.stack([mean_curve([c], length=pool.n) for c in curves]), [0.25, 0.75], axis=0)
        (line,) = ax.plot(x, mean, lw=1.8, label=f"{name} (n={len(runs)})")
        ax.fill_between(x, q[0], q[1], color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(TARGET, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="experiments (incl. 2 initial)", ylabel=f"Top% (fraction of the {pool.n_top} best found)",
           title=pool.name, ylim=(0, 1.02), xlim=(0, pool.n))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

