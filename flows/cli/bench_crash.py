"""``lab bench crash``: parse, run :func:`flows.bench.crash.crash_bench`, print the audit (exit 1 on any issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from db.errors import mask_url
from flows.bench.crash import crash_bench, render
from flows.bench.crash_options import DEFAULT_LEASE_S, crash_options
from flows.cli.bench import print_report
from flows.cli.errors import friendly

__all__ = ["register"]


def register(bench_app: typer.Typer) -> None:
    """Add the ``crash`` command to ``bench_app``."""

    @bench_app.command()
    @friendly
    def crash(kills: int = typer.Option(20, "--kills", min=1, help="SIGKILLs to deliver, each to a fresh worker."),
              seed: int = typer.Option(0, "--seed", help="Seed of the kill moments, the campaign and the simulated lab."),
              json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here."),
              url: Optional[str] = typer.Option(None, "--db", help="sqlite:/// URL, or a PostgreSQL server URL (a "
                                                "scratch database is created there); default: SQLite in --out."),
              speed: float = typer.Option(300.0, "--speed", min=1.0, help="Simulated seconds per real second."),
              out: Optional[Path] = typer.Option(None, "--out", help="Folder for ledger, lab file and worker logs "
                                                 "(default: a temporary folder, kept only if the audit fails)."),
              experiments: int = typer.Option(16, "--experiments", min=1, help="The campaign's experiment budget."),
              quick: bool = typer.Option(False, "--quick", help="Short furnace programs and scans (smoke runs)."),
              armed: float = typer.Option(0.5, "--armed", min=0.0, max=1.0, help="Fraction of kills armed on a "
                                          "dispatch or ingestion event (the rest land at uniform moments)."),
              keep: bool = typer.Option(False, "--keep", help="Keep the scratch PostgreSQL database and the folder."),
              workers: int = typer.Option(1, "--workers", min=1, help="Worker processes side by side, each under its "
                                          "own name, each killed at random moments and restarted under it."),
              campaigns: Optional[int] = typer.Option(None, "--campaigns", min=1, help="Campaigns kept queued or "
                                                      "running while kills remain (default: 1, or workers + 1)."),
              lease_s: float = typer.Option(DEFAULT_LEASE_S, "--lease-s", min=5.0, help="The workers' lease (wall-clock "
                                            "seconds): another worker may take a campaign over once it lapses."),
              lab_kills: int = typer.Option(0, "--lab-kills", min=0, help="Power cycles of the whole simulated lab "
                                            "mid-campaign (every instrument forgets its running job)."),
              db_drops: int = typer.Option(0, "--db-drops", min=0, help="Times every connection to the ledger's "
                                           "database is terminated mid-campaign (PostgreSQL)."),
              pg_restart: int = typer.Option(0, "--pg-restart", min=0, help="Crashes and restarts of a private "
                                             "PostgreSQL server the bench starts for the run (leave out --db).")) -> None:
        """Kill workers with SIGKILL at random moments, restart them, then audit the ledger (exit 1 on any issue).

        Also reports double claims (two workers acting on one campaign within half a lease), and,
        when asked, power cycles the simulated lab and drops or restarts the database mid-campaign.
        """
        _run_command(Console(), kills=kills, seed=seed, json_path=json_path, db_url=url, speed=speed, out=out,
                     experiments=experiments, quick=quick, armed=armed, keep=keep, workers=workers,
                     campaigns=campaigns, lease_s=lease_s, lab_kills=lab_kills, db_drops=db_drops,
                     pg_restart=pg_restart)


def _run_command(console: Console, json_path: Optional[Path], **options: Any) -> None:
    opts = crash_options(options["kills"], options["workers"], options["campaigns"], options["lease_s"],
                         options["lab_kills"], options["db_drops"], options["pg_restart"], options["db_url"])
    where = mask_url(opts.db_url) if opts.db_url else ("a private PostgreSQL server" if opts.pg_restart else "SQLite")
    extra = ", ".join(f"{n} {what}" for n, what in ((opts.lab_kills, "lab power cycles"), (opts.db_drops, "database drops"),
                                                   (opts.pg_restart, "PostgreSQL restarts")) if n)
    console.print(f"crash bench: {opts.kills} kills over {opts.workers} worker(s) and {opts.campaigns} campaign(s) on "
                  f"{where}{', ' + extra if extra else ''}, {options['speed']:g}x, seed {options['seed']}...")
    report = crash_bench(say=lambda line: console.print(f"  {line}", highlight=False), **options)
    print_report(console, render(report), report, json_path)
    if not report["ok"]:
        console.print(f"[bold red]crash bench failed[/]; ledger and worker logs kept in {report['out']}")
        raise typer.Exit(1)
