"""``lab status [ID]``: every campaign in the store, or one campaign's summary."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console

import db
from flows.campaign.report import summarise, summary_tables
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION

__all__ = ["register"]

console = Console()


@friendly
def status(campaign_id: Optional[int] = typer.Argument(None, help="A campaign id; omit to list all."),
           reward_version: Optional[str] = typer.Option(None, "--reward-version", help="Rewards of this version (default: active)."),
           url: Optional[str] = DB_OPTION,
           watch_: bool = typer.Option(False, "--watch", help="Follow live: new events as lines, the summary refreshed; "
                                       "Ctrl-C stops (with an ID: stops when that campaign ends)."),
           interval: float = typer.Option(2.0, "--interval", min=0.05, help="Real seconds between looks (with --watch)."),
           until_done: bool = typer.Option(False, "--until-done", help="With --watch and no ID: stop once no campaign "
                                           "is queued, running or paused.")) -> None:
    """List campaigns, or show one campaign's summary; `--watch` follows them live."""
    from lab.clock import WallClock
    store = db.open_store(url)
    if watch_:
        from flows.cli.watch import watch
        try:
            watch(store, campaign_id, interval, until_done, console)
        finally:
            store.dispose()
        return
    if campaign_id is None:
        _campaign_list(store)
    else:
        with store.session() as s:
            db.get_campaign(s, campaign_id)  # CampaignNotFound with a clear message
        for table in summary_tables(summarise(store, campaign_id, WallClock().now(), reward_version)):
            console.print(table)
    store.dispose()


def _campaign_list(store: db.Store) -> None:
    from rich.table import Table
    table = Table(title=f"Campaigns in {store.masked_url}")
    for col in ("id", "name", "status", "created", "experiments"):
        table.add_column(col)
    with store.session() as s:
        for c in db.list_campaigns(s):
            counts = db.count_by_state(s, c.id)
            table.add_row(str(c.id), c.name, c.status, f"{c.created_at:%Y-%m-%d %H:%M}",
                          " ".join(f"{k}={v}" for k, v in counts.items() if v))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``lab status`` to ``app``."""
    app.command()(status)
