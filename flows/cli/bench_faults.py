"""``lab bench faults``: parse, run :func:`flows.bench.faults.fault_bench`, print the audit (exit 1 on a silent drop)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from db.errors import mask_url
from flows.bench.faults import fault_bench
from flows.bench.machine import machine_table
from flows.cli.bench import print_report
from flows.cli.errors import friendly

__all__ = ["register", "render"]

#: How the table names each fault class.
LABELS = {"no_reply": "no reply", "late_reply": "late reply", "garbled": "garbled line", "drop": "dropped connection",
          "device_error": "device error", "stuck": "stuck job", "restart": "simulator restart"}


def register(bench_app: typer.Typer) -> None:
    """Add the ``faults`` command to ``bench_app``."""

    @bench_app.command()
    @friendly
    def faults(hours: float = typer.Option(72.0, "--hours", min=1.0, help="Simulated window: proposals stop after it (hours)."),
               rate: float = typer.Option(0.02, "--rate", min=0.0, max=1.0, help="Probability per command line of a reply "
                                          "fault (no reply, late reply, garbled, dropped connection, device error, "
                                          "evenly split)."),
               url: Optional[str] = typer.Option(None, "--db", help="sqlite:/// URL, or a PostgreSQL server URL (a scratch "
                                                 "database is created there); default: SQLite in a temporary folder."),
               json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here."),
               seed: int = typer.Option(0, "--seed", help="Seed of the campaign, the simulated lab and the fault draws."),
               stuck: Optional[float] = typer.Option(None, "--stuck", min=0.0, max=1.0,
                                                     help="Probability per job start of a stuck job (default: --rate)."),
               restarts: float = typer.Option(2.0, "--restarts-per-day", min=0.0,
                                              help="Simulator restarts per simulated day, whole lab (Poisson)."),
               timeout_s: float = typer.Option(0.3, "--timeout", min=0.05, help="The drivers' read timeout (real seconds)."),
               late_s: float = typer.Option(0.5, "--late", min=0.0, help="Delay of a late reply (real seconds; above --timeout).")) -> None:
        """A simulated campaign with faults on every wire; audit what became of each fault and experiment."""
        console = Console()
        where = mask_url(url) if url else "SQLite"
        console.print(f"fault bench: {hours:g} simulated hours at rate {rate:g} on {where}, seed {seed}...")
        report = fault_bench(hours=hours, rate=rate, seed=seed, db_url=url, stuck=stuck, restarts_per_day=restarts,
                             timeout_s=timeout_s, late_s=late_s)
        print_report(console, render(report), report, json_path)
        if not report["ok"]:
            console.print("[bold red]fault bench failed[/]: silent drops, duplicates or inconsistencies (see above)")
            raise typer.Exit(1)


def render(report: dict[str, Any]) -> list[Table]:
    """Rich tables of a fault report: faults by class, the outcome, the lost experiments, the machine."""
    s = report["settings"]
    faults = Table(title=f"Faults over {report['hours']:g} simulated hours: rate {report['rate']:g} per command line, "
                         f"stuck {s['stuck']:g} per job start, {s['restarts_per_day']:g} restarts per day (seed {report['seed']})",
                   caption="recovered: its step ended done, or it was not the cause of its step's loss; "
                           "accounted: the cause of a lost experiment")
    for col in ("fault", "injected", "recovered", "accounted to lost", "unaccounted"):
        faults.add_column(col, justify="left" if col == "fault" else "right")
    for kind, label in LABELS.items():
        faults.add_row(label, *(str(report[k][kind]) for k in ("injected", "recovered", "accounted", "unaccounted")))
    faults.add_row("[bold]all[/]", *(f"[bold]{sum(report[k].values())}[/]"
                                      for k in ("injected", "recovered", "accounted", "unaccounted")))
    tp = report["throughput"]
    causes = Counter(", ".join(e["cause"]) or "no fault" for e in report["lost"])
    outcome = Table(title=f"Outcome (campaign {report['status']}, simulated clock at the end {report['finished_at'][:16]})")
    for col in ("measure", "value", "target"):
        outcome.add_column(col, justify="left" if col == "measure" else "right")
    rows = [("experiments proposed in the window", tp["proposed"], ""),
            ("completed in the window (rewarded or failed)", tp["completed"], ""),
            ("physical limit without faults", f"{tp['physical_limit']:.1f}", ""), ("ratio", f"{tp['ratio']:.3f}", ""),
            ("failed (chemistry)", len(report["failed"]), ""),
            ("lost", len(report["lost"]), "; ".join(f"{k}: {v}" for k, v in sorted(causes.items()))),
            ("silent drops", report["silent_drops"], 0), ("duplicated", report["duplicated"], 0),
            ("inconsistent", report["inconsistent"], 0),
            ("controller events", " ".join(f"{k}={v}" for k, v in report["controller_events"].items()), ""),
            ("wall time (s)", report["wall_s"], "")]
    for name, value, target in rows:
        outcome.add_row(name, str(value), str(target))
    tables = [faults, outcome]
    if report["lost"]:
        lost = Table(title="Lost experiments")
        for col in ("sample", "cause", "reason"):
            lost.add_column(col)
        for e in report["lost"]:
            lost.add_row(e["sample"], ", ".join(e["cause"]) or "-", e["reason"])
        tables.append(lost)
    if report["silent_drop_details"] or report["issues"]:
        found = Table(title="Silent drops and issues")
        for col in ("kind", "detail"):
            found.add_column(col)
        for item in [*report["silent_drop_details"], *report["issues"]]:
            found.add_row(item["kind"], item["detail"])
        tables.append(found)
    machine = machine_table(report["machine"])
    return tables + [machine]
