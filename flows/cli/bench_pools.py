"""``lab bench pools`` and ``lab bench latency``: parse, run (:mod:`flows.bench.pool_benchmark`,
:mod:`flows.bench.latency`), print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from flows.bench.latency import MAX_SECONDS
from flows.bench.pool_benchmark import ENGINE_NOTE, pools_benchmark
from flows.bench.pool_report import replicates_note, table
from flows.bench.pools import DEFAULT_METHODS, cached_pool, default_manifest
from flows.cli.errors import friendly
from lab.pool_manifest import find_pool, load_manifest

__all__ = ["register"]


def register(bench_app: typer.Typer) -> None:
    """Add ``pools`` and ``latency`` to ``lab bench``."""
    _add_pools(bench_app)
    _add_latency(bench_app)


def _add_pools(bench_app: typer.Typer) -> None:
    @bench_app.command("pools")
    @friendly
    def pools_cmd(
        manifest: Optional[Path] = typer.Option(None, "--manifest", help="Pool manifest (default: "
                                                "$LAB_POOLS_DIR/manifest.json or ../shared/data/pools/manifest.json)."),
        pool: list[str] = typer.Option([], "--pool", help="Pool name (repeatable); default: all."),
        methods: str = typer.Option(",".join(DEFAULT_METHODS), "--methods",
                                    help="Comma-separated policy names, each optionally with options as "
                                         "name:option=value[:option=value], e.g. gp-iso-lcb:fit=mle."),
        seeds: int = typer.Option(30, "--seeds", min=1, help="Seeds 0..N-1, the same for every method."),
        batch: int = typer.Option(1, "--batch", min=1, help="Picks per cycle (q)."),
        budget: Optional[int] = typer.Option(None, "--budget", min=3, help="Most experiments per run (default: pool size)."),
        until: float = typer.Option(1.0, "--until", min=0.01, max=1.0,
                                    help="Stop a run once this fraction of the top rows is found (after 100 experiments)."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the JSON report here."),
        plots: Optional[Path] = typer.Option(None, "--plots", help="Write one Top% PNG per pool into this folder."),
        workers: int = typer.Option(1, "--workers", min=1, help="Processes (one torch thread each)."),
    ) -> None:
        """Sample efficiency (Top%, EF, AF) of policies on real measured pools."""
        from rich.progress import Progress

        console = Console()
        path = manifest or default_manifest()
        names = [m.strip() for m in methods.split(",") if m.strip()]
        with Progress(console=console, transient=True) as progress:
            specs = load_manifest(path)
            total = (len(pool) or len(specs)) * len(names) * seeds
            bar = progress.add_task("campaigns", total=total)
            report = pools_benchmark(path, pool, names, seeds, batch, budget, until, workers, plots,
                                     on_done=lambda r: progress.advance(bar))
        for name, entry in report["pools"].items():
            pool_obj = cached_pool(find_pool(load_manifest(path), name))
            console.print(table(pool_obj, entry["methods"]))
            if pool_obj.merged_rows:
                console.print(replicates_note(pool_obj), highlight=False, soft_wrap=True)
        if "reference" in report:
            r = report["reference"]
            console.print(f"reference file ({r['runs']} runs): mean curve reaches 80% at {r['n_method']} experiments, "
                          f"random at {r['n_random']}: AF(0.8) = {r['af']:.2f}; per-run median {r['per_run_median']}, "
                          f"IQR {r['per_run_iqr'][0]:.0f}-{r['per_run_iqr'][1]:.0f}")
        console.print(f"wall {report['wall_s']} s on {report['machine']['cpu_count']} CPUs; engine: {ENGINE_NOTE}")
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(report, indent=1))
            console.print(f"wrote {json_path}")

def _add_latency(bench_app: typer.Typer) -> None:
    @bench_app.command("latency")
    @friendly
    def latency_cmd(
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the JSON report here."),
        methods: str = typer.Option(",".join(DEFAULT_METHODS), "--methods", help="Comma-separated policy names."),
        quick: bool = typer.Option(False, "--quick", help="Smaller grid (history 10, 100; pool 1k, 10k)."),
        max_seconds: float = typer.Option(MAX_SECONDS, "--max-seconds", min=0.0,
                                          help="Skip a point whose time, predicted from the smaller points of "
                                               "the same policy and axis, exceeds this (s)."),
    ) -> None:
        """Proposal time and peak memory of each policy as history (10..1000) and pool (1k..50k) grow."""
        from flows.bench.latency import latency_benchmark, latency_table, point_line

        console = Console()
        names = [m.strip() for m in methods.split(",") if m.strip()]
        report = latency_benchmark(names, quick=quick, max_seconds=max_seconds,
                                   on_point=lambda p: console.print(point_line(p), highlight=False))
        console.print(latency_table(report))
        def fmt(e: Any) -> str:
            return "-" if e is None else f"{e:.2f}"

        for method, exps in report["exponents"].items():
            tails = report["tail_exponents"][method]
            parts = [f"{axis} {fmt(e)} (last two points {fmt(tails[axis])})" for axis, e in exps.items()]
            console.print(f"{method}: growth exponent " + ", ".join(parts), highlight=False)
        m = report["machine"]
        console.print(f"wall {report['wall_s']} s on {m['cpu_count']} CPUs ({m['cpu_model']}), torch threads "
                      f"{report['torch_threads']}, load average at start {report['machine_at_start']['load_average']}, "
                      f"at end {m['load_average']}", highlight=False)
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(report, indent=1))
            console.print(f"wrote {json_path}")
