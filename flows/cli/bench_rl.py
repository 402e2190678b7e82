"""``lab bench rl``: the RL policy against qLogNEI and random on held-out simulated tasks (:mod:`flows.bench.rl_sim`);
``lab bench env``: RL training throughput (:mod:`flows.bench.env_speed`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
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
               families: str = typer.Option("rff", "--families", help="Comma-separated task families: rff, ard, mlp, grid, pool."),
               workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
               json_path: Optional[Path] = typer.Option(None, "--json", help="Write runs and summary as JSON.")) -> None:
    """Median simple regret at 25 and 50 experiments on held-out simulated tasks, paired across methods."""
    from flows.bench.machine import machine_info
    from flows.bench.rl_sim import (
        held_out_tasks,
        run_all,
        summarise_by_family,
        write_json,
    )

    if policy_file is not None:
        os.environ["LAB_RL_POLICY"] = str(policy_file)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    fams = [f.strip() for f in families.split(",") if f.strip()]
    try:
        batch = held_out_tasks(tasks, candidates, families=fams)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("campaigns", total=len(names) * len(batch))
        runs = run_all(batch, names, horizon, workers=workers, on_done=lambda r: bar.advance(job))
    summary = summarise_by_family(runs)
    t = Table(title=f"held-out simulated tasks: {tasks} per family x {candidates} candidates, horizon {horizon}, delays 0-3")
    for col in ("family", "method", "regret after 25: median [95% CI] (mean)", "after 50", "median curves vs qLogNEI [95% CI]",
                "per task: experiments to qLogNEI's final regret", "wall s", "fallbacks"):
        t.add_column(col)
    for fam, per_method in summary.items():
        _rows(t, fam, per_method)
    console.print(t)
    if json_path is not None:
        write_json(json_path, {"machine": machine_info(), "tasks": tasks, "families": fams, "candidates": candidates,
                               "horizon": horizon, "policy_file": os.environ.get("LAB_RL_POLICY"), "summary": summary,
                               "runs": [r.__dict__ for r in runs]})
        console.print(f"wrote {json_path}")


def _rows(t: Table, fam: str, summary: dict[str, Any]) -> None:
    for m, row in summary.items():
        vs = row.get("vs_qlognei")
        ci = "" if not vs or not vs.get("ci") else f" [{vs['ci'][0]:.2f}, {vs['ci'][1]:.2f}]"
        ratio = "-" if not vs else (f"{vs['ratio']:.2f}x{ci} ({vs['qlognei_experiments']} vs {vs['method_experiments']})"
                                    if vs["ratio"] else "never reaches")
        pair = row.get("paired")
        paired = "-" if not pair else (f"median {pair['method_median'] if pair['method_median'] is not None else 'never'} vs {pair['qlognei_median']:g}; faster on "
                                       f"{pair['faster_tasks']}, slower on {pair['slower_tasks']} ({pair['method_never']} never)")
        t.add_row(fam, m, _fmt(row.get("regret_25")), _fmt(row.get("regret_50")), ratio, paired, f"{row['wall_s']:.0f}",
                  str(row["fallbacks"]))


def env_command(devices: str = typer.Option("cpu", "--devices", help="Comma-separated: cpu, cuda."),
                threads: str = typer.Option("1,2", "--threads", help="Comma-separated torch thread counts."),
                envs: str = typer.Option("32,128", "--envs", help="Comma-separated campaigns stepped at once."),
                candidates: int = typer.Option(384, "--candidates", min=8, help="Candidates per campaign."),
                horizon: int = typer.Option(30, "--horizon", min=4, help="Experiments per campaign."),
                json_path: Optional[Path] = typer.Option(None, "--json", help="Write the rows as JSON.")) -> None:
    """Environment steps per second of RL training (rollouts with both surrogates' features), side by side."""
    import torch

    from flows.bench.env_speed import measure
    from flows.bench.machine import machine_info
    from flows.bench.rl_sim import write_json

    rows = []
    t = Table(title=f"RL environment throughput: {candidates} candidates, horizon {horizon}")
    for col in ("device", "threads", "campaigns", "env steps", "seconds", "steps/s"):
        t.add_column(col)
    for dev in [d.strip() for d in devices.split(",") if d.strip()]:
        if dev == "cuda" and not torch.cuda.is_available():
            console.print("cuda: torch sees no CUDA device here; skipped")
            continue
        for n_threads in [int(x) for x in threads.split(",") if x.strip()]:
            for n_envs in [int(x) for x in envs.split(",") if x.strip()]:
                row = measure(dev, n_threads, n_envs, candidates, horizon)
                rows.append({**row.__dict__, "steps_per_s": row.steps_per_s})
                t.add_row(row.device, str(n_threads), str(n_envs), str(row.steps), f"{row.seconds:.1f}",
                          f"{row.steps_per_s:.0f}")
    console.print(t)
    if json_path is not None:
        write_json(json_path, {"machine": machine_info(), "rows": rows})
        console.print(f"wrote {json_path}")


def register(bench_app: typer.Typer) -> None:
    """Add ``rl`` and ``env`` to ``lab bench``."""
    bench_app.command("rl")(rl_command)
    bench_app.command("env")(env_command)
