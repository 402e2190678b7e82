"""``lab bench``: benchmark commands (print a table, write JSON, report the machine).

Mounted by :mod:`flows.cli.app` as ``app.add_typer(bench_app, name="bench")``; also runnable alone::

    python -m flows.cli.bench throughput --days 7 --seed 0 --json /tmp/tp.json

This module must not import :mod:`flows.cli.app` (which imports it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.campaign.settings import prepare_prefect

prepare_prefect()

__all__ = ["bench_app", "render"]

bench_app = typer.Typer(help="Benchmarks on the simulated lab: tables on the terminal, numbers in JSON.",
                        no_args_is_help=True, add_completion=False)
console = Console()


@bench_app.callback()
def _group() -> None:
    """Benchmarks on the simulated lab (commands, not timed tests)."""


@bench_app.command()
def throughput(days: float = typer.Option(7.0, "--days", min=0.05, help="Simulated window (days)."),
               seed: int = typer.Option(0, "--seed", help="Seed of the campaign and of the simulated lab."),
               json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here.")) -> None:
    """Completed experiments in DAYS: the asynchronous engine vs a synchronous loop, against the physical limit."""
    from flows.bench.throughput import throughput as run_bench

    console.print(f"throughput bench: {days:g} simulated days, seed {seed}; engine, then synchronous loop...")
    report = run_bench(days=days, seed=seed)
    print_report(console, render(report), report, json_path)


def print_report(console: Console, tables: list[Table], report: dict[str, Any], json_path: Optional[Path]) -> None:
    """Print a benchmark's tables and, with ``json_path``, write its report there as JSON."""
    for table in tables:
        console.print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")


def render(report: dict[str, Any]) -> list[Table]:
    """Rich tables of a throughput report: results, durations, utilisation, machine."""
    lim, runs = report["limit"], report["runs"]
    names = list(runs)
    n = lim["instruments"]["furnace"]
    head = Table(title=f"Throughput over {report['days']:g} simulated days (seed {report['seed']}, "
                       f"policy {report['policy']})",
                 caption=f"limit = ({n} {lim['bottleneck']}s x {lim['window_h']:g} h - {lim['fill_h']:.2f} h fill) "
                         f"/ {lim['durations_h'][lim['bottleneck']]:.3f} h mean occupancy")
    for col in ("controller", "completed", "physical limit", "ratio", "proposed", "wall s"):
        head.add_column(col, justify="left" if col == "controller" else "right")
    for name in names:
        run = runs[name]
        head.add_row(name, str(run["completed"]), f"{report['physical_limit']:.1f}", f"{report[f'{name}_ratio']:.3f}",
                     str(run["proposed"]), f"{run['wall_s']:.1f}")
    dur = Table(title="Job durations (h) and stage capacity (experiments)")
    dur.add_column("kind")
    dur.add_column("expected", justify="right")
    dur.add_column("stage capacity", justify="right")
    for name in names:
        dur.add_column(f"{name} measured", justify="right")
    for kind, expected in lim["durations_h"].items():
        dur.add_row(kind, f"{expected:.3f}", f"{lim['stage_capacity'][kind]:.1f}",
                    *(f"{runs[n]['mean_duration_h'][kind]:.3f}" for n in names))
    util = Table(title="Instrument utilisation inside the window (jobs started)")
    util.add_column("instrument")
    for name in names:
        util.add_column(name, justify="right")
    for inst in sorted({i for n in names for i in runs[n]["utilisation"]}):
        util.add_row(inst, *(f"{100 * runs[n]['utilisation'].get(inst, 0.0):.1f}% ({runs[n]['jobs'].get(inst, 0)})"
                             for n in names))
    machine = Table(title=f"Machine (bench wall time {report['wall_s']:.1f} s)")
    machine.add_column("key")
    machine.add_column("value")
    for key, value in report["machine"].items():
        machine.add_row(key, str(value))
    return [head, dur, util, machine]


if __name__ == "__main__":  # pragma: no cover
    bench_app()
