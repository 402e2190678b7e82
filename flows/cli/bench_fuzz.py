"""``lab bench fuzz``: hostile inputs through every user-file loader and reply parser (:mod:`flows.bench.fuzz`).

Prints, per target, the inputs tried and how many raised an untyped exception (a bug), with the
shortest failing input; writes the whole report as JSON with ``--json``. Exits 1 when any input
was untyped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.bench.fuzz import TARGETS, fuzz_bench
from flows.bench.machine import machine_table
from flows.cli.bench import print_report
from flows.cli.errors import friendly

__all__ = ["register", "render"]

_TARGETS_HELP = f"Targets (repeat or comma-separate; default all): {', '.join(TARGETS)}."


def register(bench_app: typer.Typer) -> None:
    """Add the ``fuzz`` command to ``bench_app``."""

    @bench_app.command()
    @friendly
    def fuzz(examples: int = typer.Option(1000, "--examples", min=1, help="Inputs per target."),
             targets: Optional[list[str]] = typer.Option(None, "--targets", help=_TARGETS_HELP),
             json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here."),
             seed: int = typer.Option(0, "--seed", help="Seed of every input (same seed, same inputs and counts)."),
             jobs: int = typer.Option(1, "--jobs", min=1, help="Processes to spread the inputs over."),
             no_shrink: bool = typer.Option(False, "--no-shrink", help="Skip hypothesis's search for a small failing input.")) -> None:
        """Feed hostile inputs to each loader; count exceptions that are not the project's typed errors (exit 1 if any)."""
        names = [t.strip() for group in (targets or []) for t in group.split(",") if t.strip()] or None
        unknown = [t for t in names or [] if t not in TARGETS]
        if unknown:
            raise typer.BadParameter(f"unknown target(s) {', '.join(unknown)}; expected some of {', '.join(TARGETS)}",
                                     param_hint="--targets")
        console = Console()
        console.print(f"fuzz: {examples} inputs per target, seed {seed}, {jobs} process(es)...")
        report = fuzz_bench(examples, names, seed, shrink=not no_shrink, jobs=jobs,
                            say=lambda line: console.print(f"  {line}", highlight=False))
        print_report(console, render(report), report, json_path)
        if report["untyped_total"]:
            raise typer.Exit(1)


def render(report: dict[str, Any]) -> list[Table]:
    """The report as tables: one row per target, then the machine."""
    table = Table(title=f"Fuzz: {report['examples']} inputs per target, seed {report['seed']} "
                        f"(wall {report['wall_s']:.1f} s)")
    for col in ("target", "tried", "untyped", "inputs/s", "shortest untyped input (error)"):
        table.add_column(col, justify="right" if col in ("tried", "untyped", "inputs/s") else "left", overflow="fold")
    for name, t in report["targets"].items():
        shown = t["examples"][0] if t["examples"] else None
        example = f"{shown['input'][:80]} ({shown['error'][:120]})" if shown else "-"
        table.add_row(name, str(t["tried"]), str(t["untyped"]), f"{t['per_s']:.0f}" if t["per_s"] else "-", example)
    machine = machine_table(report["machine"])
    return [table, machine]
