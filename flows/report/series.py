"""The series and rows the report plots and tabulates, derived from a :class:`~flows.report.data.ReportData`.

Pure functions of the loaded data (no store, no drawing). Times are hours of the campaign's clock
since :attr:`ReportData.start`; rewards are always maximised (their terms carry the objectives'
directions, :mod:`lab.reward`).

Example:
    >>> best_so_far([None, 0.2, 0.1, 0.5, None])
    [None, 0.2, 0.2, 0.5, 0.5]
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from flows.report.data import ReportData
from lab.pareto import pareto_mask

__all__ = [
    "BestPoint", "DecisionRow", "InstrumentRow", "LatencyPoint", "ParetoRow", "RewardRow", "TimelineBar", "best_by_number",
    "best_by_time", "best_so_far", "decision_rows", "instrument_rows", "latency_points", "latency_stats", "pareto_rows",
    "reward_rows", "timeline_bars",
]


def best_so_far(values: Sequence[float | None]) -> list[float | None]:
    """Running maximum of ``values``; ``None`` entries (no result) keep the best so far."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
        out.append(best)
    return out


@dataclass(frozen=True)
class BestPoint:
    """One reward and the best reward up to it (``x``: experiment number, or hours)."""

    x: float
    value: float
    best: float
    sample_id: str


def best_by_number(data: ReportData) -> list[BestPoint]:
    """Rewards in proposal order: experiment number -> reward and best so far (unrewarded ones left out)."""
    scored = [e for e in data.experiments if e.reward is not None]
    bests = best_so_far([e.reward for e in scored])
    return [BestPoint(float(e.number), float(e.reward or 0.0), float(b or 0.0), e.sample_id) for e, b in zip(scored, bests)]


def best_by_time(data: ReportData) -> list[BestPoint]:
    """Rewards in the order they arrived: hours since the start -> reward and best so far."""
    scored = sorted((e for e in data.experiments if e.reward is not None and e.result_at is not None),
                    key=lambda e: (e.result_at, e.number))
    bests = best_so_far([e.reward for e in scored])
    return [BestPoint(data.hours(e.result_at), float(e.reward or 0.0), float(b or 0.0), e.sample_id)
            for e, b in zip(scored, bests) if e.result_at is not None]


@dataclass(frozen=True)
class ParetoRow:
    """A measured experiment's objective values (in the spec's order), feasibility, and whether it is on the front.

    Attributes:
        feasible: every outcome constraint of the spec holds (always True without constraints).
        on_front: feasible and dominated by no other feasible experiment.
    """

    sample_id: str
    number: int
    values: tuple[float, ...]
    feasible: bool
    on_front: bool


def pareto_rows(data: ReportData) -> list[ParetoRow]:
    """Every measured experiment's objectives; the front by :func:`lab.pareto.pareto_mask` over the feasible ones.

    The same set ``lab status`` lists (:mod:`flows.campaign.pareto_report`). Empty with one objective.
    """
    if len(data.objectives) < 2:
        return []
    names = [n for n, _ in data.objectives]
    senses = [d for _, d in data.objectives]
    measured = [e for e in data.experiments if e.has_result and all(n in e.objectives for n in names)]
    feasible = [all(c.holds(e.objectives) for c in data.constraints) for e in measured]
    points = [tuple(float(e.objectives[n]) for n in names) for e in measured]
    mask = iter(pareto_mask([p for p, ok in zip(points, feasible) if ok], senses))
    return [ParetoRow(e.sample_id, e.number, p, ok, ok and next(mask)) for e, p, ok in zip(measured, points, feasible)]


@dataclass(frozen=True)
class TimelineBar:
    """One step on its instrument: from its intent to when it ended (hours since the start).

    Attributes:
        state: the step's state (``done``, ``failed``, ``lost``, or ``intent``/``acked`` while in flight).
    """

    instrument: str
    sample_id: str
    step: str
    start_h: float
    end_h: float
    state: str
    error: str | None


def timeline_bars(data: ReportData) -> list[TimelineBar]:
    """Every step that reached an instrument, in the order the instruments are first used."""
    bars = []
    for st in data.steps:
        began = st.intent_at or st.acked_at
        if st.instrument is None or began is None:
            continue
        ended = st.ended_at or data.end
        bars.append(TimelineBar(st.instrument, st.sample_id, st.name, data.hours(began), max(data.hours(ended), data.hours(began)),
                                st.state, st.error))
    return sorted(bars, key=lambda b: (b.start_h, b.instrument))


@dataclass(frozen=True)
class InstrumentRow:
    """One instrument's use over the campaign (hours)."""

    instrument: str
    steps: int
    busy_h: float
    idle_h: float
    failed: int


def instrument_rows(data: ReportData) -> list[InstrumentRow]:
    """Per instrument: steps, busy and idle hours over the campaign's span, failed or lost steps."""
    span = max(data.hours(data.end), 0.0)
    rows: dict[str, list[TimelineBar]] = {}
    for bar in timeline_bars(data):
        rows.setdefault(bar.instrument, []).append(bar)
    out = []
    for name in sorted(rows):
        busy = sum(b.end_h - b.start_h for b in rows[name])
        out.append(InstrumentRow(name, len(rows[name]), busy, max(span - busy, 0.0),
                                 sum(b.state in ("failed", "lost") for b in rows[name])))
    return out


@dataclass(frozen=True)
class LatencyPoint:
    """Hours from an experiment's decision to its result."""

    sample_id: str
    hours: float
    state: str


def latency_points(data: ReportData) -> list[LatencyPoint]:
    """Decision ``made_at`` to measured/rewarded time, for every experiment with a result."""
    made = {d.index: d.made_at for d in data.decisions}
    out = []
    for e in data.experiments:
        if e.has_result and e.result_at is not None:
            start = made.get(e.decision_index, e.proposed_at)
            out.append(LatencyPoint(e.sample_id, (e.result_at - start).total_seconds() / 3600.0, e.state))
    return out


def latency_stats(points: Sequence[LatencyPoint]) -> dict[str, float]:
    """``n``, ``median``, ``p90`` and ``max`` of the latencies (hours); empty without points."""
    hours = sorted(p.hours for p in points)
    if not hours:
        return {}
    return {"n": float(len(hours)), "median": statistics.median(hours),
            "p90": hours[min(len(hours) - 1, round(0.9 * (len(hours) - 1)))], "max": hours[-1]}


@dataclass(frozen=True)
class DecisionRow:
    """Who made one decision.

    Attributes:
        fallbacks: one line per proposal a baseline made in the policy's place (``sample: policy (reason)``).
        review: ``approved``, ``rejected: <reason>``, or empty.
    """

    index: int
    made_h: float
    policy: str
    policy_version: str
    samples: tuple[str, ...]
    fallbacks: tuple[str, ...]
    review: str


def decision_rows(data: ReportData) -> list[DecisionRow]:
    """Each decision's policy, exact version, experiments and fallbacks, in order."""
    samples = {e.id: e.sample_id for e in data.experiments}
    rows = []
    for d in data.decisions:
        names = tuple(samples.get(i, str(i)) for i in d.experiment_ids)
        fallbacks = tuple(f"{names[i] if i < len(names) else i}: {f.policy} ({f.reason})"
                          for i, f in enumerate(d.fallbacks) if f is not None)
        review = "approved" if d.approved_at is not None else ""
        if getattr(d, "rejected_at", None) is not None:
            reason = getattr(d, "review_reason", None)
            review = f"rejected: {reason}" if reason else "rejected"
        rows.append(DecisionRow(d.index, data.hours(d.made_at), d.policy, d.policy_version, names, fallbacks, review))
    return rows


@dataclass(frozen=True)
class RewardRow:
    """One reward version: its terms, how many rewards it holds and the best of them."""

    version: str
    active: bool
    terms: str
    failure_reward: float
    rewarded: int
    best: float | None
    best_sample: str


def reward_rows(data: ReportData) -> list[RewardRow]:
    """Every reward definition, oldest first, with the best reward under it."""
    directions = dict(data.objectives)
    samples = {e.id: e.sample_id for e in data.experiments}
    rows = []
    for r in data.rewards:
        terms = " + ".join(f"{t.weight:g} × {t.objective} ({directions.get(t.objective, 'maximize')})" for t in r.definition.terms)
        top = max(r.values.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
        rows.append(RewardRow(r.definition.version, r.active, terms, r.definition.failure_reward, len(r.values),
                              None if top is None else top[1], "" if top is None else samples.get(top[0], str(top[0]))))
    return rows
