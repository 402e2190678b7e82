"""``lab relabel``: recompute a campaign's rewards under a new reward definition; old rewards are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

import db
from flows.campaign import control
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION

__all__ = ["register"]

console = Console()


@friendly
def relabel(campaign_id: int = typer.Argument(..., help="Campaign id."),
            reward: Path = typer.Option(..., "--reward", help="Reward definition file (TOML: version, terms, failure_reward)."),
            activate: bool = typer.Option(False, "--activate", help="Make it the version that proposals and reports use."),
            url: Optional[str] = DB_OPTION) -> None:
    """Recompute every measured experiment's reward under a new reward definition; old rewards are kept."""
    from lab.clock import WallClock
    definition = control.load_reward_file(reward)
    store = db.open_store(url)
    result = control.relabel(store, campaign_id, definition, WallClock().now(), activate=activate)
    console.print(f"campaign {campaign_id}: {result.rewarded} rewards and {result.failed} failures under {result.version}"
                  + (" (now active)" if result.active else f"; see them with `lab status {campaign_id} --reward-version {result.version}`"))
    store.dispose()


def register(app: typer.Typer) -> None:
    """Add ``lab relabel`` to ``app``."""
    app.command()(relabel)
