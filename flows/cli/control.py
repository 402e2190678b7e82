"""``lab pause``, ``lab resume``, ``lab cancel``, ``lab approve``: a scientist's hand on a running campaign.

Each command changes the store only (:mod:`flows.campaign.control`); the engine running the campaign
reads the store on every tick and follows.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console

import db
from flows.campaign import control
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION

__all__ = ["register"]

console = Console()


def _control(action: str, campaign_id: int, url: Optional[str]) -> None:
    from lab.clock import WallClock
    store = db.open_store(url)
    status = getattr(control, action)(store, campaign_id, WallClock().now())
    console.print(f"campaign {campaign_id} is now {status}")
    store.dispose()


@friendly
def pause(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Pause a campaign: results in flight are still collected; nothing new is dispatched."""
    _control("pause", campaign_id, url)


@friendly
def resume(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Resume a paused campaign."""
    _control("resume", campaign_id, url)


@friendly
def cancel(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Cancel a campaign: started experiments finish and are recorded; nothing new is dispatched."""
    _control("cancel", campaign_id, url)


@friendly
def approve(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Approve the campaign's proposed batches that wait for a scientist (spec: approval_required = true)."""
    from lab.clock import WallClock
    store = db.open_store(url)
    indices = control.approve(store, campaign_id, WallClock().now())
    console.print(f"approved {len(indices)} batch(es) of campaign {campaign_id}" + (f": decisions {indices}" if indices else ""))
    store.dispose()


def register(app: typer.Typer) -> None:
    """Add the control commands to ``app``."""
    for command in (pause, resume, cancel, approve):
        app.command()(command)
