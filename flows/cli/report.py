"""``lab report ID [--html PATH]``: one campaign's self-contained HTML report (figures embedded)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

import db
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION
from flows.report.write import default_report_path, write_report

__all__ = ["register"]

console = Console()


@friendly
def report(campaign_id: int = typer.Argument(..., help="Campaign id."),
           html: Optional[Path] = typer.Option(None, "--html", help="Where to write the report "
                                               "(default: report-<ID>.html in the current directory)."),
           url: Optional[str] = DB_OPTION) -> None:
    """Write campaign ID's report as one HTML file (plots embedded, nothing fetched) and print its path."""
    from lab.clock import WallClock
    store = db.open_store(url)
    try:
        path = write_report(store, campaign_id, html or default_report_path(campaign_id), WallClock().now())
    finally:
        store.dispose()
    console.print(f"campaign {campaign_id}: report written to", highlight=False)
    print(path)


def register(app: typer.Typer) -> None:
    """Add ``lab report`` to ``app``."""
    app.command()(report)
