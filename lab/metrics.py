"""Sample-efficiency metrics of pool campaigns, as defined in ``../shared/data/pools/README.md``.

Conventions (Liang et al. 2021):

* ``i`` counts **experiments**, the 2 initial random points included: ``curve[i - 1]`` is ``Top%(i)``,
  the fraction of the ``n_top`` best rows found after ``i`` experiments.
* Random baseline, exactly: ``Top%_random(i) = i / N`` (the expected fraction for picks without
  replacement), so it first reaches ``t`` at ``n_random(t) = ceil(t * N)`` experiments.
* ``EF(i) = Top%(i) / (i / N)``; ``AF(t) = n_random(t) / n_method(t)``, with first-reach counts.
* A fraction ``t`` is reached once ``ceil(t * n_top)`` top rows are found (counts, not floats, so
  ``0.8 * 30`` is exactly 24 rows).
* Aggregation over seeds: per-run first-reach counts are summarised by their **median** with a
  seeded percentile-bootstrap confidence interval; Liang's own AF uses the first reach of the
  **mean** Top% curve over runs (:func:`mean_curve`), which is what :func:`score_reference` uses.

Example:
    >>> top_curve([5, 1, 7, 3], top=[1, 3]).tolist()
    [0.0, 0.5, 0.5, 1.0]
    >>> experiments_to_reach(top_curve([5, 1, 7, 3], top=[1, 3]), 0.5, n_top=2)
    2
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "ReferenceScore",
    "acceleration_factor",
    "enhancement_factor",
    "experiments_to_reach",
    "mean_curve",
    "median_ci",
    "random_curve",
    "random_experiments_to_reach",
    "score_reference",
    "top_curve",
]


def _needed(t: float, n_top: int) -> int:
    """Top rows needed for ``Top% >= t``."""
    if not 0.0 < t <= 1.0:
        raise ValueError(f"a Top% target must lie in (0, 1], got {t}")
    return max(1, math.ceil(t * n_top - 1e-9))


def top_curve(picked: Sequence[int], top: Iterable[int]) -> np.ndarray:
    """``Top%(i)`` for ``i = 1 .. len(picked)``.

    Args:
        picked: pool row indices in the order they were run, shape ``(n,)`` (no repeats).
        top: the indices of the top rows (``n_top`` of them).

    Returns:
        Float array of shape ``(n,)``, non-decreasing, in ``[0, 1]``.

    Raises:
        ValueError: ``top`` is empty or ``picked`` repeats a row.
    """
    top_set = set(int(i) for i in top)
    if not top_set:
        raise ValueError("top is empty: a pool needs at least one top row")
    picked = [int(i) for i in picked]
    if len(set(picked)) != len(picked):
        raise ValueError("picked repeats a row; pool campaigns pick without replacement")
    hits = np.fromiter((i in top_set for i in picked), dtype=np.float64, count=len(picked))
    return np.cumsum(hits) / len(top_set)


def random_curve(n_pool: int, length: int | None = None) -> np.ndarray:
    """The exact random baseline ``i / N`` for ``i = 1 .. length`` (default ``N``), shape ``(length,)``."""
    length = n_pool if length is None else length
    return np.arange(1, length + 1, dtype=np.float64) / float(n_pool)


def experiments_to_reach(curve: Sequence[float] | np.ndarray, t: float, n_top: int) -> int | None:
    """The first ``i`` (experiments, 1-based) with ``Top%(i) >= t``; ``None`` if never reached.

    Args:
        curve: ``Top%`` after 1, 2, ... experiments, shape ``(n,)``.
        t: the target fraction in ``(0, 1]``.
        n_top: number of top rows (to turn ``t`` into a count).
    """
    counts = np.asarray(curve, dtype=np.float64) * n_top  # exact counts for one run, fractional for a mean
    hit = np.nonzero(counts >= _needed(t, n_top) - 1e-9)[0]
    return int(hit[0]) + 1 if hit.size else None


def random_experiments_to_reach(n_pool: int, t: float) -> int:
    """``n_random(t) = ceil(t * N)``: where the exact random baseline first reaches ``t``."""
    if not 0.0 < t <= 1.0:
        raise ValueError(f"a Top% target must lie in (0, 1], got {t}")
    return math.ceil(t * n_pool - 1e-9)


def enhancement_factor(curve: Sequence[float] | np.ndarray, n_pool: int) -> np.ndarray:
    """``EF(i) = Top%(i) / (i / N)`` for ``i = 1 .. len(curve)``, shape ``(n,)``."""
    values = np.asarray(curve, dtype=np.float64)
    return values / random_curve(n_pool, len(values))


def acceleration_factor(n_method: float | None, n_pool: int, t: float = 0.8) -> float | None:
    """``AF(t) = n_random(t) / n_method(t)``; ``None`` when the method never reached ``t``."""
    if n_method is None or not math.isfinite(n_method) or n_method <= 0:
        return None
    return random_experiments_to_reach(n_pool, t) / float(n_method)


def mean_curve(curves: Sequence[Sequence[float] | np.ndarray], length: int | None = None, statistic: str = "mean") -> np.ndarray:
    """The mean (or median) Top% curve over runs, each run padded with its last value.

    A run that ends early (all top rows found, or stopped after reaching its target) keeps its last
    value, which is exact when it had found every top row and a lower bound otherwise.

    Args:
        curves: one Top% curve per run (lengths may differ).
        length: length of the result (default: the longest run).
        statistic: ``"mean"`` (Liang et al.'s aggregation) or ``"median"``.

    Returns:
        Array of shape ``(length,)``.
    """
    if not curves:
        raise ValueError("no runs to aggregate")
    length = max(len(c) for c in curves) if length is None else length
    M = np.empty((len(curves), length))
    for k, curve in enumerate(curves):
        c = np.asarray(curve, dtype=np.float64)[:length]
        M[k, : len(c)] = c
        M[k, len(c):] = c[-1] if len(c) else 0.0
    if statistic == "mean":
        return M.mean(axis=0)
    if statistic == "median":
        return np.median(M, axis=0)
    raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")


def median_ci(values: Sequence[float | None], n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> tuple[float, float, float]:
    """Median of ``values`` with a seeded percentile-bootstrap confidence interval.

    ``None`` (a run that never reached the target) counts as ``+inf``, so a median or bound can be
    ``inf`` when too many runs failed.

    Returns:
        ``(median, low, high)``.
    """
    x = np.array([math.inf if v is None else float(v) for v in values], dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to summarise")
    rng = np.random.default_rng(seed)
    boots = np.median(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    alpha = (1.0 - level) / 2.0
    lo = float(np.quantile(boots, alpha, method="lower"))
    hi = float(np.quantile(boots, 1.0 - alpha, method="higher"))
    return float(np.median(x)), lo, hi


@dataclass(frozen=True)
class ReferenceScore:
    """The authors' reference file scored with this module.

    Attributes:
        runs: number of runs in the file.
        n_top: top rows (the file's maximum count).
        n_pool: pool size ``N``.
        n_method: experiments at which the mean Top% curve first reaches ``t`` (Liang's aggregation).
        n_random: ``ceil(t * N)``.
        af: ``n_random / n_method``.
        per_run: each run's first-reach count (experiments).
        per_run_median: their median; ``per_run_iqr``: 25th and 75th percentiles.
    """

    runs: int
    n_top: int
    n_pool: int
    n_method: int
    n_random: int
    af: float
    per_run: tuple[int, ...]
    per_run_median: float
    per_run_iqr: tuple[float, float]


def score_reference(path: str | Path, n_pool: int = 600, n_top: int | None = None, t: float = 0.8) -> ReferenceScore:
    """Score a reference top-count file (two ``#`` lines, then one run per line).

    Value ``j`` of a line is the cumulative number of top rows found after ``j + 1`` experiments; a
    line ends once all top rows are found (the missing tail counts as ``n_top``).

    Raises:
        ValueError: the file has no runs or a non-integer count (naming the line).
    """
    counts: list[np.ndarray] = []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            counts.append(np.array([int(float(v)) for v in line.split(",")], dtype=np.int64))
        except ValueError as exc:
            raise ValueError(f"{path}: line {line_no}: {exc}") from None
    if not counts:
        raise ValueError(f"{path}: no runs")
    n_top = int(max(c.max() for c in counts)) if n_top is None else n_top
    curves = [c / n_top for c in counts]
    agg = mean_curve(curves, length=n_pool)
    n_method = experiments_to_reach(agg, t, n_top)
    if n_method is None:
        raise ValueError(f"{path}: the mean curve never reaches Top% {t}")
    per_run = tuple(int(experiments_to_reach(c, t, n_top) or n_pool + 1) for c in curves)
    q25, q50, q75 = np.percentile(per_run, [25, 50, 75])
    n_random = random_experiments_to_reach(n_pool, t)
    return ReferenceScore(len(counts), n_top, n_pool, n_method, n_random, n_random / n_method, per_run,
                          float(q50), (float(q25), float(q75)))
