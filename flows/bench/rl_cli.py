"""``lab bench rl``: the RL policy against qLogNEI and random on held-out simulated tasks (:mod:`flows.bench.rl_sim`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["register"]

console = Console()


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "-"
    lo, hi = cell["ci"]
    return f"{cell['median']:.3f} [{lo:.3f}, {hi:.3f}] ({cell['mean']:.3f})"


def rl_command(tasks: int = typer.Option(30, "--tasks", min=1, help="Held-out tasks (paired: every method runs each)."),
               candidates: int = typer.Option(1000, "--candidates", min=8, help="Candidates per task."),
               horizon: int = typer.Option(50, "--horizon", min=3, help="Experiments per campaign (2 random initial ones included)."),
               methods: str = typer.Option("rl,qlognei,random", "--methods", help="Comma-separated policy names."),
               policy_file: Optional[Path] = typer.Option(None, "--policy", help="RL policy file (default: $LAB_RL_POLICY)."),
               workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
               json_path: Optional[Path] = typer.Option(None, "--json", help="Write runs and summary as JSON.")) -> None:
    """Median simple regret at 25 and 50 experiments on held-out simulated tasks, paired across methods."""
    from flows.bench.machine import machine_info
    from flows.bench.rl_sim import held_out_tasks, run_all, summarise, write_json

    if policy_file is not None:
        os.environ["LAB_RL_POLICY"] = str(policy_file)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    batch = held_out_tasks(tasks, candidates)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("campaigns", total=len(names) * tasks)
        runs = run_all(batch, names, horizon, workers=workers, on_done=lambda r: bar.advance(job))
    summary = summarise(runs)
    t = Table(title=f"held-out simulated tasks: {tasks} tasks x {candidates} candidates, horizon {horizon}, delays 0-3")
    for col in ("method", "regret after 25: median [95% CI] (mean)", "after 50", "median curves vs qLogNEI",
                "per task: experiments to qLogNEI's final regret", "wall s", "fallbacks"):
        t.add_column(col)
    for m, row in summary.items():
        vs = row.get("vs_qlognei")
        ratio = "-" if not vs else (f"{vs['ratio']:.2f}x ({vs['qlognei_experiments']} vs {vs['method_experiments']})"
                                    if vs["ratio"] else "never reaches")
        pair = row.get("paired")
        paired = "-" if not pair else (f"median {pair['method_median'] if pair['method_median'] is not None else 'never'} vs {pair['qlognei_median']:g}; faster on "
                                       f"{pair['faster_tasks']}, slower on {pair['slower_tasks']} ({pair['method_never']} never)")
        t.add_row(m, _fmt(row.get("regret_25")), _fmt(row.get("regret_50")), ratio, paired, f"{row['wall_s']:.0f}",
                  str(row["fallbacks"]))
    console.print(t)
    if json_path is not None:
        write_json(json_path, {"machine": machine_info(), "tasks": tasks, "candidates": candidates, "horizon": horizon,
                               "policy_file": os.environ.get("LAB_RL_POLICY"), "summary": summary,
                               "runs": [r.__dict__ for r in runs]})
        console.print(f"wrote {json_path}")


def register(bench_app: typer.Typer) -> None:
    """Add ``rl`` to ``lab bench``."""
    bench_app.command("rl")(rl_command)
