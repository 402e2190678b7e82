"""The report's figures: matplotlib on its Agg canvas (no pyplot state, no display), each returned as a PNG ``data:`` URI.

Every function takes the series of :mod:`flows.report.series` (or the loaded patterns) and returns
one ``data:image/png;base64,...`` string that an ``<img src>`` embeds, so the HTML file needs
nothing else. Times are hours since the campaign's start; rewards are dimensionless.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from flows.report.data import XrdFit
from flows.report.phases import fitted_phases
from flows.report.series import BestPoint, LatencyPoint, ParetoRow, TimelineBar

__all__ = ["best_so_far_figure", "latency_figure", "pareto_figure", "png_data_uri", "timeline_figure", "xrd_figure"]

DPI = 100
STEP_COLOURS = {"dose": "#4e79a7", "anneal": "#f28e2b", "xrd": "#59a14f", "uvvis": "#b07aa1"}
FAULT_COLOUR = "#d62728"
PHASE_COLOURS = ("#e15759", "#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#9c755f")


def png_data_uri(fig: Figure) -> str:
    """The figure as a PNG ``data:`` URI (base64)."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)  # the Agg canvas: no display, no pyplot state
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def best_so_far_figure(by_number: Sequence[BestPoint], by_time: Sequence[BestPoint]) -> str:
    """Rewards and the best so far, against experiment number (left) and campaign hours (right)."""
    fig = Figure(figsize=(12, 3.8))
    for ax, points, label in zip(fig.subplots(1, 2), (by_number, by_time), ("experiment number", "campaign time (h)")):
        xs = [p.x for p in points]
        ax.scatter(xs, [p.value for p in points], s=22, color="#9aa7b8", label="reward", zorder=2)
        ax.step(xs, [p.best for p in points], where="post", color="#1f4e79", linewidth=2, label="best so far", zorder=3)
        ax.set_xlabel(label)
        ax.set_ylabel("reward")
        ax.grid(alpha=0.3)
        if not points:
            ax.text(0.5, 0.5, "no rewards yet", ha="center", va="center", transform=ax.transAxes)
    fig.axes[0].legend(loc="lower right")
    return png_data_uri(fig)


def pareto_figure(rows: Sequence[ParetoRow], names: Sequence[str], senses: Sequence[str]) -> str:
    """The first two objectives: the front (connected, in order) over the dominated and infeasible points."""
    fig = Figure(figsize=(6.5, 4.6))
    ax = fig.subplots()
    front = sorted((r for r in rows if r.on_front), key=lambda r: r.values[0])
    dominated = [r for r in rows if r.feasible and not r.on_front]
    infeasible = [r for r in rows if not r.feasible]
    ax.scatter([r.values[0] for r in dominated], [r.values[1] for r in dominated], s=30, color="#b5b5b5",
               label=f"dominated ({len(dominated)})")
    if infeasible:
        ax.scatter([r.values[0] for r in infeasible], [r.values[1] for r in infeasible], s=30, marker="x", color="#7f7f7f",
                   label=f"infeasible ({len(infeasible)})")
    ax.plot([r.values[0] for r in front], [r.values[1] for r in front], "-o", color="#c0392b", markersize=7,
            label=f"Pareto front ({len(front)})")
    for r in front:
        ax.annotate(r.sample_id, (r.values[0], r.values[1]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    arrow = {"maximize": "→ better", "minimize": "← better"}
    ax.set_xlabel(f"{names[0]} ({senses[0]}, {arrow[senses[0]]})")
    ax.set_ylabel(f"{names[1]} ({senses[1]})")
    ax.grid(alpha=0.3)
    ax.legend()
    return png_data_uri(fig)


def xrd_figure(fits: Sequence[XrdFit]) -> str:
    """One panel per pattern: measured counts, the whole fit, each fitted phase above the background and its peak positions."""
    fig = Figure(figsize=(12, 2.9 * max(len(fits), 1)))
    axes = fig.subplots(max(len(fits), 1), 1, squeeze=False)[:, 0]
    for ax, fit in zip(axes, fits):
        overlay = fitted_phases(fit.two_theta, fit.counts, fit.fractions, fit.crystallite_nm)
        ax.plot(fit.two_theta, fit.counts, color="#333333", linewidth=0.8, label="measured")
        ax.plot(fit.two_theta, overlay.total, color="#000000", linewidth=0.8, linestyle="--", label="fit")
        top = float(max(fit.counts.max(), 1.0))
        ranked = sorted(overlay.phases.items(), key=lambda kv: -fit.fractions[kv[0]])
        for i, (colour, (name, curve)) in enumerate(zip(PHASE_COLOURS, ranked)):
            ax.fill_between(fit.two_theta, overlay.background, curve, color=colour, alpha=0.6,
                            label=f"{name} {100 * fit.fractions[name]:.0f} wt%")
            row = -0.07 * top * (i + 1)  # the phase's reference peak positions, one row of ticks each below the pattern
            ax.vlines(overlay.peaks[name], row - 0.025 * top, row + 0.025 * top, color=colour, linewidth=1.2)
        ax.set_title(f"{fit.sample_id}: reward {fit.reward:.3f}, R_wp {fit.residual:.3f}", fontsize=10, loc="left")
        ax.set_ylabel("counts")
        ax.set_ylim(bottom=-0.07 * top * (len(ranked) + 1))
        ax.legend(loc="upper right", fontsize=8, ncol=2)
    axes[-1].set_xlabel("2θ (degrees, Cu Kα)")
    if not fits:
        axes[0].text(0.5, 0.5, "no measured patterns", ha="center", va="center", transform=axes[0].transAxes)
    fig.tight_layout()
    return png_data_uri(fig)


def timeline_figure(bars: Sequence[TimelineBar], fault_hours: Sequence[float], span_h: float) -> str:
    """A Gantt chart: one row per instrument, a bar per step; failed and lost steps hatched red, faults marked."""
    instruments = sorted({b.instrument for b in bars})
    fig = Figure(figsize=(12, 0.5 * len(instruments) + 1.8))
    ax = fig.subplots()
    row = {name: i for i, name in enumerate(instruments)}
    for b in bars:
        bad = b.state in ("failed", "lost")
        ax.broken_barh([(b.start_h, max(b.end_h - b.start_h, span_h / 2000.0))], (row[b.instrument] - 0.38, 0.76),
                       facecolors=FAULT_COLOUR if bad else STEP_COLOURS.get(b.step, "#8c8c8c"),
                       edgecolor="white" if not bad else "black", hatch="//" if bad else None, linewidth=0.5)
        if bad:
            ax.plot(b.end_h, row[b.instrument], marker="X", color="black", markersize=9)
    for h in fault_hours:
        ax.axvline(h, color=FAULT_COLOUR, linestyle=":", linewidth=1)
    ax.set_yticks(range(len(instruments)), instruments)
    ax.invert_yaxis()
    ax.set_xlim(0, max(span_h, 1e-3))
    ax.set_xlabel("campaign time (h); white space on a row is idle time")
    ax.grid(axis="x", alpha=0.3)
    steps = sorted({b.step for b in bars})
    handles = [Patch(color=STEP_COLOURS.get(s, "#8c8c8c"), label=s) for s in steps]
    handles.append(Patch(facecolor=FAULT_COLOUR, hatch="//", edgecolor="black", label="failed / lost"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles), fontsize=8, frameon=False)
    if not bars:
        ax.text(0.5, 0.5, "no steps reached an instrument", ha="center", va="center", transform=ax.transAxes)
    return png_data_uri(fig)


def latency_figure(points: Sequence[LatencyPoint]) -> str:
    """A histogram of proposal-to-result latency with each experiment as a tick below it."""
    fig = Figure(figsize=(6.5, 4.6))
    ax = fig.subplots()
    hours = [p.hours for p in points]
    if hours:
        ax.hist(hours, bins=min(max(len(hours) // 2, 3), 20), color="#76b7b2", edgecolor="white")
        ax.plot(hours, [-0.15] * len(hours), "|", color="#1f4e79", markersize=14)
    else:
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("hours from decision to result")
    ax.set_ylabel("experiments")
    ax.grid(alpha=0.3)
    return png_data_uri(fig)
