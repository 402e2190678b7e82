"""``lab export``: a campaign's experiments as CSV, JSON or Parquet, its measurements as CSV files.

What is written, and how to read it back, is in :mod:`flows.report.export`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

import db
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION
from flows.report.export import check_format, export_campaign

__all__ = ["register"]

console = Console(stderr=True)


@friendly
def export(campaign_id: int = typer.Argument(..., help="Campaign id."),
           fmt: str = typer.Option("csv", "--format", "-f", help="csv, json or parquet (parquet needs --output)."),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="Table file (default: standard output)."),
           measurements: Optional[Path] = typer.Option(None, "--measurements", help="Folder for one CSV per stored "
                                                       "measurement (default with --output: <output stem>_measurements)."),
           no_measurements: bool = typer.Option(False, "--no-measurements", help="Write the table only."),
           url: Optional[str] = DB_OPTION) -> None:
    """Export one row per experiment (parameters, objectives, rewards per version, timestamps) and the raw measurements."""
    check_format(fmt, output)  # before opening the store
    store = db.open_store(url)
    try:
        result = export_campaign(store, campaign_id, fmt, output, measurements=measurements,
                                 with_measurements=not no_measurements)
    finally:
        store.dispose()
    if result.output is not None:
        console.print(f"campaign {campaign_id}: {result.rows} experiments -> {result.output}")
    if result.measurements_dir is not None:
        console.print(f"{len(result.measurement_files)} measurement files -> {result.measurements_dir}")


def register(app: typer.Typer) -> None:
    """Add ``lab export`` to ``app``."""
    app.command()(export)
