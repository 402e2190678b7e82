"""``lab bench scale``: parse, run :func:`flows.bench.scale.scale_bench`, print the tables (exit 1 on a missed target)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from db.errors import mask_url
from flows.bench.machine import machine_table
from flows.bench.scale import DEFAULT_PG_URL, ScaleConfig, scale_bench
from flows.cli.bench import print_report
from flows.cli.errors import friendly
from flows.errors import FlowError

__all__ = ["parse_growth", "parse_workers", "register", "render"]


def parse_workers(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``.

    Raises:
        FlowError: not a comma-separated list of positive whole numbers.
    """
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise FlowError(f"--workers {text!r}: expected worker counts such as 1,2,4")
    return counts


def parse_growth(text: str | None) -> tuple[int, int] | None:
    """``"10x4"`` -> ``(10, 4)`` (instruments x campaigns); ``None`` or ``""`` -> ``None``.

    Raises:
        FlowError: not two positive whole numbers joined by ``x``.
    """
    if not text:
        return None
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise FlowError(f"--growth {text!r}: expected INSTRUMENTSxCAMPAIGNS such as 10x4")
    return int(parts[0]), int(parts[1])


def register(bench_app: typer.Typer) -> None:
    """Add the ``scale`` command to ``bench_app``."""

    @bench_app.command()
    @friendly
    def scale(instruments: int = typer.Option(50, "--instruments", min=4, help="Instruments in the simulated lab."),
              campaigns: int = typer.Option(20, "--campaigns", min=1, help="Campaigns queued."),
              workers: str = typer.Option("1,2,4", "--workers", help="Worker counts to compare, comma-separated."),
              url: Optional[str] = typer.Option(None, "--db", help="PostgreSQL server URL; each run makes a fresh "
                                                f"database there (default {mask_url(DEFAULT_PG_URL)})."),
              json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here "
                                                       "(rewritten after each run)."),
              hours: float = typer.Option(12.0, "--hours", min=0.5, help="Simulated window after the first "
                                          "proposal (hours)."),
              seed: int = typer.Option(0, "--seed", help="Seed of the campaigns and of the simulated lab."),
              speed: float = typer.Option(720.0, "--speed", min=1.0, help="Simulated seconds per real second."),
              experiments: Optional[int] = typer.Option(None, "--experiments", min=1, help="Each campaign's budget "
                                                        "(default: 1.25 x the window's limit, shared out)."),
              policy: str = typer.Option("sobol", "--policy", help="Every campaign's policy."),
              policies: str = typer.Option("", "--also-policies", help="More policies, comma-separated, each run "
                                           "at the largest worker count (e.g. qlognei)."),
              growth: Optional[str] = typer.Option(None, "--growth", help="A smaller lab, INSTRUMENTSxCAMPAIGNS "
                                                   "(e.g. 10x4), also run at every worker count."),
              model: str = typer.Option("split", "--model", help="split: each worker's lab file holds a share of "
                                        "every kind and steps run on the worker holding their instrument; shared: "
                                        "every worker connects to every instrument.")) -> None:
        """The controller's cost at lab scale: CPU per decision and instrument-hour, ledger write latency, throughput.

        Real `lab worker` processes on PostgreSQL and a simulated lab on an accelerated clock,
        compared side by side for each worker count; targets printed pass/fail.
        """
        console = Console()
        counts, extra = parse_workers(workers), parse_growth(growth)
        cfg = ScaleConfig(instruments=instruments, campaigns=campaigns, hours=hours, speed=speed, seed=seed,
                          policy=policy, experiments=experiments, model=model)
        console.print(f"scale bench ({model} lab): {instruments} instruments, {campaigns} campaigns, workers {workers}, "
                      f"{hours:g} simulated hours at {speed:g}x on {mask_url(url or DEFAULT_PG_URL)}, seed {seed}...")

        def checkpoint(report: dict[str, Any]) -> None:
            if json_path is not None:
                print_report(console, [], report, json_path)

        report = scale_bench(cfg, counts, url, extra, tuple(p.strip() for p in policies.split(",") if p.strip()),
                             say=lambda line: console.print(f"  {line}", highlight=False), checkpoint=checkpoint)
        print_report(console, render(report), report, json_path)
        if not all(t["ok"] for t in report["targets"].values()):
            console.print("[bold red]scale bench: a target was missed[/] (see Targets)")
            raise typer.Exit(1)


def _pct(x: float) -> str:
    return f"{100.0 * x:.4f}%"


def _ms(q: dict[str, Any], key: str) -> str:
    return "-" if q.get(key) is None else f"{q[key]:.1f}"


def render(report: dict[str, Any]) -> list[Table]:
    """Rich tables of a scale report: throughput, controller cost, targets, machine."""
    runs = report["runs"]
    tp = Table(title="Throughput in the window (experiments completed against the furnaces' physical limit)",
               caption=f"model: {report['model_text']}")
    for col in ("lab", "W", "policy", "completed", "limit", "ratio", "ideal", "per sim h", "lag min (med/p99)",
                "double claims"):
        tp.add_column(col, justify="left" if col in ("lab", "policy") else "right")
    cost = Table(title="Controller cost (worker processes' CPU, queueing to stop)",
                 caption="real-time: the fraction scaled by 60 / (rounds per simulated hour) where a worker made "
                         "fewer rounds than a wall-clock worker's one a minute")
    for col in ("lab", "W", "policy", "CPU s", "fraction", "real-time", "ms/decision", "ms/instr-h", "ms/tick",
                "rounds/sim h", "commit ms (med/p99)", "DB CPU s", "wall s", "load 1m"):
        cost.add_column(col, justify="left" if col in ("lab", "policy") else "right")
    for r in runs:
        lab = f"{r['instruments']} x {r['campaigns']}"
        lag = r["ledger"]["lag_min"]
        tp.add_row(lab, str(r["workers"]), r["policy"], str(r["completed"]), f"{r['physical_limit']:.1f}",
                   f"{r['throughput_ratio']:.3f}", f"{r['ideal_ratio']:.3f}", f"{r['completed_per_hour']:.2f}",
                   f"{_ms(lag, 'median')}/{_ms(lag, 'p99')}", str(r["double_claims"]))
        wl = r["write_latency_ms"]
        cost.add_row(lab, str(r["workers"]), r["policy"], f"{r['controller_cpu_s']:.1f}", _pct(r["controller_fraction"]),
                     _pct(r["controller_fraction_real_time"]), f"{r['cpu_ms_per_decision'] or 0:.0f}",
                     f"{r['cpu_ms_per_instrument_hour'] or 0:.1f}", f"{r['cpu_ms_per_tick'] or 0:.1f}",
                     f"{r['rounds_per_sim_hour']:.1f}", f"{_ms(wl, 'median')}/{_ms(wl, 'p99')}",
                     "-" if r["database_cpu_s"] is None else f"{r['database_cpu_s']:.1f}", f"{r['wall_s']:.0f}",
                     f"{r['load_average'][0]:.2f}")
    targets = Table(title="Targets")
    for col in ("target", "wanted", "measured", "result"):
        targets.add_column(col)
    t = report.get("targets", {})
    if t:
        rows = (("controller time / instrument time", t["controller_fraction"]["target"],
                 _pct(t["controller_fraction"]["worst"]) + " (worst run)", t["controller_fraction"]["ok"]),
                ("throughput with workers", t["throughput_with_workers"]["target"],
                 ", ".join(f"W={w}: {x:.3f}" for w, x in zip(t["throughput_with_workers"]["workers"],
                                                            t["throughput_with_workers"]["ratios"]))
                 + f"; up to {t['throughput_with_workers']['cores']} cores: "
                 + ("grows" if t["throughput_with_workers"]["grows_up_to_cores"] else "does not grow"),
                 t["throughput_with_workers"]["ok"]),
                ("double claims", t["double_claims"]["target"], str(t["double_claims"]["total"]), t["double_claims"]["ok"]))
        for name, wanted, measured, ok in rows:
            targets.add_row(name, wanted, measured, "[green]pass[/]" if ok else "[red]fail[/]")
    machine = machine_table(report["machine"])
    machine.title = f"Machine (bench wall time {report['wall_s']:.0f} s)"
    return [tp, cost, targets, machine]
