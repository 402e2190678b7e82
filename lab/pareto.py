"""Pareto fronts of several objectives, each maximised or minimised.

A point dominates another when it is at least as good in every objective and better in one.
Pure Python: the report, ``lab status`` and the multi-objective policy share this one definition.

Example:
    >>> pareto_mask([(0.9, 0.10), (0.8, 0.02), (0.7, 0.05)], ("maximize", "minimize"))
    [True, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["dominates", "pareto_mask"]


def _oriented(point: Sequence[float], senses: Sequence[str]) -> tuple[float, ...]:
    return tuple(v if s == "maximize" else -v for v, s in zip(point, senses))


def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[str]) -> bool:
    """Whether ``a`` dominates ``b`` under ``senses`` (``"maximize"`` or ``"minimize"`` per objective)."""
    oa, ob = _oriented(a, senses), _oriented(b, senses)
    return all(x >= y for x, y in zip(oa, ob)) and any(x > y for x, y in zip(oa, ob))


def pareto_mask(points: Sequence[Sequence[float]], senses: Sequence[str]) -> list[bool]:
    """For each point, whether no other point dominates it (ties are all kept).

    Args:
        points: ``n`` points, each with one value per objective.
        senses: ``"maximize"`` or ``"minimize"`` for each objective.

    Raises:
        ValueError: a sense is neither, or a point's length differs from ``senses``.
    """
    bad = [s for s in senses if s not in ("maximize", "minimize")]
    if bad:
        raise ValueError(f"sense {bad[0]!r}: expected 'maximize' or 'minimize'")
    if any(len(p) != len(senses) for p in points):
        raise ValueError(f"every point needs {len(senses)} values, one per objective")
    return [not any(dominates(q, p, senses) for j, q in enumerate(points) if j != i) for i, p in enumerate(points)]
