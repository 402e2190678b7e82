"""One self-contained HTML page for one campaign: inline CSS, tables, figures as ``data:`` URIs.

:func:`render_html` turns a :class:`~flows.report.data.ReportData` into the page's text. It loads
nothing from the network (no script, font, stylesheet or image URL), so the file can be mailed or
opened offline. Every section, figure and table has a stable ``id`` (:data:`FIGURE_IDS`,
:data:`TABLE_IDS`; ``fig-pareto`` and ``tbl-pareto`` only with two objectives or more, otherwise the
paragraph ``pareto-single`` says why there is no front). All text from the store is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from flows.report import figures
from flows.report.data import ReportData
from flows.report.series import (
    best_by_number,
    best_by_time,
    decision_rows,
    instrument_rows,
    latency_points,
    latency_stats,
    pareto_rows,
    reward_rows,
    timeline_bars,
)
from lab.param_text import format_params
from lab.state import OutcomeConstraint

__all__ = ["FIGURE_IDS", "TABLE_IDS", "render_html"]

#: Figures every report has (plus ``fig-pareto`` with several objectives).
FIGURE_IDS = ("fig-best-so-far", "fig-xrd", "fig-timeline", "fig-latency")
#: Tables every report has (plus ``tbl-pareto`` with several objectives).
TABLE_IDS = ("tbl-summary", "tbl-states", "tbl-parameters", "tbl-best", "tbl-instruments", "tbl-latency", "tbl-decisions",
             "tbl-rewards", "tbl-events", "tbl-experiments")
#: How many of the best results the ``tbl-best`` table lists.
TOP_RESULTS = 5

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
main{max-width:1360px;margin:0 auto;padding:18px 24px 40px}
header{background:#1f4e79;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:24px} header p{margin:0;opacity:.85}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 18px;margin:16px 0}
h2{font-size:18px;margin:0 0 10px;color:#1f4e79}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px} .grid>section{margin:0}
img{max-width:100%;height:auto;display:block;margin:6px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0;width:100%}
th,td{border-bottom:1px solid #e1e5ea;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
.warning{color:#9a6700} .error{color:#c0392b;font-weight:600} .note{color:#5b6b7b;font-size:13px}
.chips span{display:inline-block;background:#eef2f6;border-radius:12px;padding:2px 10px;margin:2px 4px 2px 0;font-size:13px}
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="n">{value:.3f}</td>'
    if isinstance(value, int):
        return f'<td class="n">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "none") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="note">{escape(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _img(fig_id: str, uri: str, alt: str) -> str:
    return f'<img id="{fig_id}" src="{uri}" alt="{escape(alt)}">'


def _section(sec_id: str, title: str, *parts: str) -> str:
    return f'<section id="{sec_id}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _time(at: datetime | None) -> str:
    return "" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def _parameter_range(p: Mapping[str, Any]) -> str:
    if p.get("type") == "composition":
        return ", ".join(f"{e} {lo:g}–{hi:g}" for e, (lo, hi) in dict(p.get("elements", {})).items()) + f" (sum {p.get('total', 1)})"
    if p.get("type") == "categorical":
        return " | ".join(str(c) for c in p.get("choices", []))
    return f"{p.get('low')}–{p.get('high')} {p.get('unit', '')}".strip()


def _bound(c: OutcomeConstraint) -> str:
    low = "" if c.low is None else f"{c.low:g} ≤ "
    return f"{low}{c.objective}" + ("" if c.high is None else f" ≤ {c.high:g}")


def _header(data: ReportData) -> str:
    info, spec = data.campaign, data.campaign.spec
    policy = dict(spec.get("policy") or {})
    budget = dict(spec.get("budget") or {})
    workflow = dict(spec.get("workflow") or {})
    rows = [("campaign", f"{info.id}: {info.name}"), ("status", info.status), ("description", spec.get("description", "")),
            ("policy", f"{policy.get('name', '?')} " + ", ".join(f"{k}={v}" for k, v in dict(policy.get("options") or {}).items())),
            ("objectives", ", ".join(f"{n} ({d})" for n, d in data.objectives)),
            ("constraints", ", ".join(_bound(c) for c in data.constraints) or "none"),
            ("active reward", info.reward_version),
            ("budget", ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None)),
            ("batch size", spec.get("batch_size", "")), ("target phase", workflow.get("target_phase", "")),
            ("seed", info.seed), ("created", _time(info.created_at)), ("started", _time(info.started_at)),
            ("finished", _time(info.finished_at)), ("span", f"{data.hours(data.end):.1f} h")]
    params = [(p.get("name", ""), p.get("type", ""), _parameter_range(p)) for p in spec.get("parameters") or []]
    chips = "".join(f"<span>{escape(k)} {v}</span>" for k, v in data.counts.items())
    return _section("sec-summary", "Campaign", f'<div class="chips">{chips}</div>',
                    '<div class="grid"><div>', _table("tbl-summary", ("field", "value"), rows), "</div><div>",
                    _table("tbl-states", ("state", "experiments"), list(data.counts.items()), "no experiments yet"),
                    _table("tbl-parameters", ("parameter", "type", "range"), params), "</div></div>")


def _best(data: ReportData) -> str:
    names = [n for n, _ in data.objectives]
    top = sorted((e for e in data.experiments if e.reward is not None), key=lambda e: (-(e.reward or 0.0), e.number))[:TOP_RESULTS]
    rows = [(e.sample_id, e.state, float(e.reward or 0.0), *(float(e.objectives.get(n, float("nan"))) for n in names),
             format_params(e.params)) for e in top]
    return _section("sec-best", "Best so far",
                    _img("fig-best-so-far", figures.best_so_far_figure(best_by_number(data), best_by_time(data)),
                         "reward and best so far against experiment number and campaign time"),
                    _table("tbl-best", ("sample", "state", f"reward ({data.campaign.reward_version})", *names, "parameters"),
                           rows, "no rewards yet"))


def _pareto(data: ReportData) -> str:
    if len(data.objectives) < 2:
        name = data.objectives[0][0] if data.objectives else "none"
        return _section("sec-pareto", "Pareto front",
                        f'<p id="pareto-single" class="note">This campaign has one objective ({escape(name)}): '
                        "there is no Pareto front to draw; the best-so-far plot shows it.</p>")
    rows = pareto_rows(data)
    names = [n for n, _ in data.objectives]
    senses = [d for _, d in data.objectives]
    note = "" if len(names) == 2 else f'<p class="note">Front over all {len(names)} objectives; the figure shows the first two.</p>'
    table_rows = [(r.sample_id, "yes" if r.on_front else "no", "yes" if r.feasible else "no", *r.values)
                  for r in sorted(rows, key=lambda r: (not r.on_front, not r.feasible, r.number))]
    return _section("sec-pareto", "Pareto front", note,
                    _img("fig-pareto", figures.pareto_figure(rows, names, senses), "Pareto front and dominated points"),
                    _table("tbl-pareto", ("sample", "on front", "feasible", *(f"{n} ({d})" for n, d in data.objectives)), table_rows,
                           "no measured experiments yet"))


def _latency(data: ReportData) -> str:
    points = latency_points(data)
    stats = latency_stats(points)
    rows = [(int(stats["n"]), stats["median"], stats["p90"], stats["max"])] if stats else []
    return _section("sec-latency", "Proposal-to-result latency",
                    _img("fig-latency", figures.latency_figure(points), "histogram of hours from decision to result"),
                    _table("tbl-latency", ("results", "median h", "p90 h", "max h"), rows, "no results yet"))


def _timeline(data: ReportData) -> str:
    bars = timeline_bars(data)
    faults = [data.hours(ev.at) for ev in data.events if ev.level in ("warning", "error") and data.start <= ev.at <= data.end]
    rows = [(r.instrument, r.steps, r.busy_h, r.idle_h, r.failed) for r in instrument_rows(data)]
    return _section("sec-timeline", "Instrument timeline",
                    _img("fig-timeline", figures.timeline_figure(bars, faults, data.hours(data.end)),
                         "Gantt chart of instrument steps"),
                    '<p class="note">Dotted red lines: warnings and errors in the event log; hatched bars: failed or lost steps.</p>',
                    _table("tbl-instruments", ("instrument", "steps", "busy h", "idle h", "failed or lost"), rows))


def _decisions(data: ReportData) -> str:
    rows = [(d.index, d.made_h, d.policy, d.policy_version, ", ".join(d.samples), "; ".join(d.fallbacks) or "none", d.review)
            for d in decision_rows(data)]
    return _section("sec-decisions", "Who made each decision",
                    _table("tbl-decisions", ("decision", "made at h", "policy", "version", "experiments",
                                             "fallbacks", "review"), rows, "no decisions yet"))


def _rewards(data: ReportData) -> str:
    rows = [(r.version + (" (active)" if r.active else ""), r.terms, r.failure_reward, r.rewarded,
             "" if r.best is None else r.best, r.best_sample) for r in reward_rows(data)]
    return _section("sec-rewards", "Reward versions",
                    _table("tbl-rewards", ("version", "terms", "failure reward", "rewards", "best", "best sample"), rows))


def _events(data: ReportData) -> str:
    shown = [ev for ev in data.events if ev.level != "info"]
    rows = "".join(f'<tr class="{escape(ev.level)}"><td>{_time(ev.at)}</td><td>{escape(ev.level)}</td><td>{escape(ev.kind)}</td>'
                   f"<td>{escape(ev.message)}</td></tr>" for ev in shown)
    if not shown:
        rows = '<tr><td colspan="4" class="note">no warnings or errors</td></tr>'
    table = ('<table id="tbl-events"><thead><tr><th>at</th><th>level</th><th>kind</th><th>message</th></tr></thead>'
             f"<tbody>{rows}</tbody></table>")
    return _section("sec-events", f"Warnings and errors ({len(shown)})", table)


def _experiments(data: ReportData) -> str:
    names = [n for n, _ in data.objectives]
    rows = [(e.sample_id, e.state, e.decision_index, f"{e.policy} {e.policy_version}",
             "" if e.reward is None else e.reward, *(e.objectives[n] if n in e.objectives else "" for n in names),
             format_params(e.params), e.reason or "") for e in data.experiments]
    return _section("sec-experiments", "Every experiment",
                    _table("tbl-experiments", ("sample", "state", "decision", "policy", "reward", *names, "parameters",
                                               "reason"), rows, "no experiments yet"))


def render_html(data: ReportData, generated_at: datetime) -> str:
    """The whole report page for ``data`` (``generated_at``: the time printed in its heading)."""
    info = data.campaign
    xrd = _section("sec-xrd", f"XRD of the best {len(data.patterns)} samples with the fitted phases",
                   _img("fig-xrd", figures.xrd_figure(data.patterns), "XRD patterns with fitted phases"))
    body = "".join((_header(data), _best(data), '<div class="grid">', _pareto(data), _latency(data), "</div>", xrd,
                    _timeline(data), _decisions(data), _rewards(data), _events(data), _experiments(data)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Campaign {info.id}: {escape(info.name)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>Campaign {info.id}: {escape(info.name)}</h1><p>{escape(info.status)} · "
            f"{sum(data.counts.values())} experiments · report generated {_time(generated_at)}</p></header>"
            f"<main>{body}</main></body></html>\n")
