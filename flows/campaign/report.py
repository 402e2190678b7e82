"""What a campaign found and how the lab was used, computed from the store alone.

:func:`summarise` reads the ledger and returns a :class:`CampaignSummary`: the best result and its
parameters, experiments per state, per-instrument utilisation (busy time over the campaign's
span, from the step timestamps) and proposal-to-result latency, and, for several objectives, the
Pareto set (:mod:`flows.campaign.pareto_report`). :func:`summary_tables` renders it for the
terminal (rich), :func:`summary_markdown` for a Prefect artifact.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.table import Table

import db
from flows.campaign.pareto_report import feasible_ids, pareto_rows, pareto_table
from flows.campaign.pause import status_label
from lab.experiment import ExperimentState
from lab.param_text import format_params

__all__ = ["CampaignSummary", "summarise", "summary_markdown", "summary_tables"]

S = ExperimentState


@dataclass
class Decider:
    """One policy version's share of a campaign's decisions, and the proposals it handed to a fallback.

    Attributes:
        fallbacks: proposals per fallback policy name (e.g. ``{"qlognei": 3}``).
    """

    policy: str
    version: str
    decisions: int = 0
    proposals: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign at a glance (times in hours of the campaign's clock)."""

    campaign_id: int
    name: str
    status: str
    span_h: float
    counts: dict[str, int]
    best: dict[str, Any] | None
    utilisation: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_h: dict[str, float] = field(default_factory=dict)
    in_flight: list[dict[str, Any]] = field(default_factory=list)
    reward_version: str = ""
    problems: list[str] = field(default_factory=list)
    deciders: list[Decider] = field(default_factory=list)
    #: with several objectives: their names, and the non-dominated feasible experiments
    objectives: list[str] = field(default_factory=list)
    pareto: list[dict[str, Any]] = field(default_factory=list)
    #: the spec has outcome constraints: ``best`` is the best feasible result
    constrained: bool = False


def summarise(store: db.Store, campaign_id: int, now: datetime, reward_version: str | None = None) -> CampaignSummary:
    """Read campaign ``campaign_id``'s summary from the store, as of ``now``.

    Args:
        reward_version: rank results by this reward version (default: the campaign's active one).
    """
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        version = db.get_reward_definition(s, campaign_id, reward_version).version
        experiments = db.list_experiments(s, campaign_id)
        steps = db.step_history(s, campaign_id)
        rewards = db.rewards_for(s, campaign_id, version)
        events = [e for e in db.list_events(s, campaign_id) if e.level != "info"]
        decisions = db.list_decisions(s, campaign_id)
        best = _best(s, experiments, rewards, feasible_ids(s, campaign_id, info.spec))
        pareto = pareto_rows(s, campaign_id, info.spec, experiments)
    start = info.started_at or info.created_at
    # a simulated campaign's clock can run ahead of the caller's ``now``: never end before the ledger does
    stamps = [t for st in steps for t in (st.intent_at, st.acked_at, st.done_at) if t is not None]
    end = info.finished_at or max([now, *stamps])
    span_h = max((end - start).total_seconds() / 3600.0, 0.0)
    counts = {st.value: 0 for st in S}
    for e in experiments:
        counts[e.state.value if isinstance(e.state, S) else str(e.state)] += 1
    latencies = [(ended - e.timestamps[S.PROPOSED.value]).total_seconds() / 3600.0
                 for e in experiments if (ended := _ended(e)) is not None]
    in_flight = [_flight(e, steps) for e in experiments if S(e.state) in (S.DISPATCHED, S.RUNNING)]
    return CampaignSummary(campaign_id, info.name, status_label(info), span_h, {k: v for k, v in counts.items() if v},
                           best, _utilisation(steps, start, end), _latency(latencies), in_flight, version,
                           [f"{e.at:%Y-%m-%d %H:%M} {e.level}: {e.message}" for e in events[-10:]], _deciders(decisions),
                           [str(o["name"]) for o in info.spec.get("objectives") or ()], pareto,
                           bool(info.spec.get("constraints")))


def _deciders(decisions: list[db.DecisionInfo]) -> list[Decider]:
    """Which policy and version made the decisions, and how many proposals each handed to a fallback."""
    rows: dict[tuple[str, str], Decider] = {}
    for d in decisions:
        row = rows.setdefault((d.policy, d.policy_version), Decider(d.policy, d.policy_version))
        row.decisions += 1
        for fallback in d.fallbacks:
            row.proposals += 1
            if fallback is not None:
                row.fallbacks[fallback.policy] = row.fallbacks.get(fallback.policy, 0) + 1
    return list(rows.values())


def _flight(e: Any, steps: list[Any]) -> dict[str, Any]:
    """Where an experiment in flight is: its open step, instrument and expected end."""
    open_steps = [st for st in steps if st.experiment_id == e.id and st.state in ("intent", "acked")]
    step = open_steps[0] if open_steps else None
    return {"sample": e.sample_id, "step": step.name if step else "waiting", "instrument": step.instrument if step else "",
            "expected": step.expected_done_at if step else None}


def _ended(e: db.ExperimentInfo) -> datetime | None:
    for state in (S.REWARDED, S.FAILED, S.LOST):
        if e.timestamps.get(state.value):
            return e.timestamps[state.value]
    return None


def _best(s: Any, experiments: list[Any], rewards: dict[int, float], feasible: set[int] | None) -> dict[str, Any] | None:
    """The rewarded experiment with the highest reward, among the feasible ones when the spec has constraints."""
    scored = [e for e in experiments if e.id in rewards and S(e.state) == S.REWARDED and (feasible is None or e.id in feasible)]
    if not scored:
        return None
    top = max(scored, key=lambda e: rewards[e.id])
    return {"experiment_id": top.id, "sample": top.sample_id, "reward": rewards[top.id], "params": dict(top.params),
            "objectives": db.latest_objectives(s, top.id) or {}}


def _utilisation(steps: list[db.StepInfo], start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    span = max((end - start).total_seconds(), 1.0)
    out: dict[str, dict[str, float]] = {}
    for st in steps:
        if st.instrument is None or st.acked_at is None:
            continue
        stop = st.done_at or end
        row = out.setdefault(st.instrument, {"busy_h": 0.0, "jobs": 0.0})
        row["busy_h"] += max((stop - st.acked_at).total_seconds(), 0.0) / 3600.0
        row["jobs"] += 1
    for row in out.values():
        row["utilisation"] = min(row["busy_h"] * 3600.0 / span, 1.0)
        row["idle_h"] = max(span / 3600.0 - row["busy_h"], 0.0)
    return dict(sorted(out.items()))


def _latency(hours: list[float]) -> dict[str, float]:
    if not hours:
        return {}
    ordered = sorted(hours)
    return {"n": float(len(ordered)), "median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))], "max": ordered[-1]}


def summary_tables(summary: CampaignSummary) -> list[Table]:
    """Rich tables: the best result, experiments per state, instruments, latency."""
    head = Table(title=f"Campaign {summary.campaign_id}: {summary.name} ({summary.status}, {summary.span_h:.1f} h)")
    head.add_column(f"best {'feasible ' if summary.constrained else ''}result (reward {summary.reward_version})")
    head.add_column("value")
    if summary.best:
        for k, v in summary.best["objectives"].items():
            head.add_row(k, f"{v:.3f}")
        head.add_row("reward", f"{summary.best['reward']:.3f}")
        head.add_row("parameters", format_params(summary.best["params"]))
        head.add_row("sample", str(summary.best["sample"]))
    else:
        head.add_row("(none yet)", "")
    states = Table(title="Experiments per state")
    states.add_column("state")
    states.add_column("count", justify="right")
    for k, v in summary.counts.items():
        states.add_row(k, str(v))
    inst = Table(title="Instrument utilisation")
    for col in ("instrument", "jobs", "busy h", "idle h", "utilisation"):
        inst.add_column(col, justify="right" if col != "instrument" else "left")
    for name, row in summary.utilisation.items():
        inst.add_row(name, f"{row['jobs']:.0f}", f"{row['busy_h']:.1f}", f"{row['idle_h']:.1f}", f"{100 * row['utilisation']:.0f}%")
    lat = Table(title="Proposal-to-result latency (h)")
    for col in ("results", "median", "p90", "max"):
        lat.add_column(col, justify="right")
    if summary.latency_h:
        lh = summary.latency_h
        lat.add_row(f"{lh['n']:.0f}", f"{lh['median']:.1f}", f"{lh['p90']:.1f}", f"{lh['max']:.1f}")
    tables = [head, states, inst, lat]
    if len(summary.objectives) > 1:
        tables.append(pareto_table(summary.pareto, summary.objectives, format_params))
    if summary.deciders:
        who = Table(title="Who proposed the experiments")
        for col in ("policy", "version", "decisions", "proposals", "handed to a fallback"):
            who.add_column(col, justify="left" if col in ("policy", "version", "handed to a fallback") else "right")
        for dec in summary.deciders:
            fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(dec.fallbacks.items())) or "none"
            who.add_row(dec.policy, dec.version, str(dec.decisions), str(dec.proposals), fallbacks)
        tables.append(who)
    if summary.in_flight:
        flying = Table(title="In flight")
        for col in ("sample", "step", "instrument", "expected end (UTC)"):
            flying.add_column(col)
        for f in summary.in_flight:
            flying.add_row(f["sample"], f["step"], f["instrument"], f"{f['expected']:%Y-%m-%d %H:%M}" if f["expected"] else "")
        tables.append(flying)
    if summary.problems:
        problems = Table(title="What went wrong (latest 10)")
        problems.add_column("event")
        for line in summary.problems:
            problems.add_row(line)
        tables.append(problems)
    return tables


def summary_markdown(summary: CampaignSummary) -> str:
    """The summary as Markdown (for the Prefect UI)."""
    lines = [f"# Campaign {summary.campaign_id}: {summary.name}", "", f"Status **{summary.status}**, span {summary.span_h:.1f} h", ""]
    if summary.best:
        lines += [f"Best: reward {summary.best['reward']:.3f} with {format_params(summary.best['params'])}", ""]
    lines += ["| state | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary.counts.items()]
    lines += ["", "| instrument | jobs | busy h | utilisation |", "|---|---|---|---|"]
    lines += [f"| {n} | {r['jobs']:.0f} | {r['busy_h']:.1f} | {100 * r['utilisation']:.0f}% |" for n, r in summary.utilisation.items()]
    return "\n".join(lines)
