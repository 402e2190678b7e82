"""``lab bench pools`` and ``lab bench latency``: command-line front ends of the benchmarks.

:func:`pools_benchmark` is the programmatic entry point (the CLI and the tests call it); it returns
the JSON-able report documented in :mod:`flows.bench.pool_report`, plus ``reference`` (the authors'
shipped top-count file scored by :func:`lab.metrics.score_reference`) when that file lies next to
the manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from flows.bench.latency import MAX_SECONDS
from flows.bench.machine import machine_info
from flows.bench.pool_report import plot_pool, pool_header, summarize, table
from flows.bench.pools import DEFAULT_METHODS, MIN_EXPERIMENTS, RunResult, _cached_pool, default_manifest, run_many
from lab.metrics import score_reference
from lab.pools import find_pool, load_manifest

__all__ = ["REFERENCE_FILE", "add_commands", "pools_benchmark"]

REFERENCE_FILE = "reference_topcount_GP_M52iso_LCB2_crossed_barrel.csv"
ENGINE_NOTE = ("in-memory loop: same Policy objects (make_policy(..., candidates=pool rows)), CampaignState and "
               "Observation value objects, and the pool lookup instrument (lab.pools.Pool.measure) as a real "
               "campaign; no SQL ledger and no Prefect tasks (their per-experiment cost would dominate)")


def pools_benchmark(manifest: Path, pools: Sequence[str] = (), methods: Sequence[str] = DEFAULT_METHODS,
                    seeds: int = 30, batch: int = 1, budget: Optional[int] = None, until: float = 1.0,
                    workers: int = 1, plots: Optional[Path] = None, on_done: Any = None) -> dict[str, Any]:
    """Run the benchmark and return its report.

    Args:
        manifest: the manifest JSON.
        pools: pool names (full, short or file stem); empty: every pool of the manifest.
        methods: policy names.
        seeds: seeds ``0 .. seeds - 1`` (the same for every method).
        batch: picks per cycle; budget: most experiments per run (default: pool size).
        until: stop a run once this fraction of the top rows is found (after 100 experiments).
        workers: processes; plots: folder for one PNG per pool.
    """
    t0 = time.perf_counter()
    specs = load_manifest(manifest)
    chosen = [find_pool(specs, name) for name in pools] if pools else specs
    runs = run_many(chosen, list(methods), list(range(seeds)), batch, budget, until, workers, on_done)
    report: dict[str, Any] = {
        "benchmark": "pools", "engine": ENGINE_NOTE,
        "config": {"manifest": str(manifest), "methods": list(methods), "seeds": seeds, "batch": batch,
                   "budget": budget, "until": until, "min_experiments": MIN_EXPERIMENTS, "n_initial": 2,
                   "workers": workers},
        "pools": {},
    }
    ref = Path(manifest).parent / REFERENCE_FILE
    if ref.exists():
        r = score_reference(ref)
        report["reference"] = {"file": str(ref), **{k: v for k, v in asdict(r).items() if k != "per_run"}}
    for spec in chosen:
        pool = _cached_pool(spec)
        by_method: dict[str, list[RunResult]] = {m: [r for r in runs if r.pool == pool.name and r.method == m]
                                                 for m in methods}
        entry = pool_header(pool)
        entry["methods"] = {m: summarize(pool, rs) for m, rs in by_method.items() if rs}
        if plots is not None:
            entry["plot"] = str(plot_pool(pool, by_method, Path(plots) / f"{spec.short_name}_top_percent.png"))
        report["pools"][pool.name] = entry
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["machine"] = machine_info()
    return report


def add_commands(bench_app: Any) -> None:
    """Register ``pools`` and ``latency`` on a Typer app."""
    import typer
    from rich.console import Console

    @bench_app.command("pools")
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
            pool_obj = _cached_pool(find_pool(load_manifest(path), name))
            console.print(table(pool_obj, entry["methods"]))
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

    @bench_app.command("latency")
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
