"""``lab deploy [--api URL] [--db URL]``: the lab's work pools and deployments on a Prefect server.

Creates the ``instruments`` and ``training`` work pools (type ``process``) when absent and creates
or updates the deployments of the worker, update and training flows
(:mod:`flows.training.deployments`); prints one row per deployment (pool, entrypoint, and
whether it was created, updated or unchanged). Running it again changes nothing. ``--db`` makes
the store's handle (its URL without the password) every deployment's default ``store``.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

import db
from flows.cli.errors import friendly

__all__ = ["register"]

console = Console()


@friendly
def deploy_command(api: Optional[str] = typer.Option(None, "--api", help="Prefect API, e.g. http://127.0.0.1:4200/api "
                                                     "(default: $PREFECT_API_URL)."),
                   url: Optional[str] = typer.Option(None, "--db", help="Store the flow runs use by default (its URL "
                                                     "without the password is kept; default: each host's own "
                                                     "$LAB_DATABASE_URL).")) -> None:
    """Create the work pools `instruments` and `training` and the lab's deployments on a Prefect server (idempotent)."""
    from flows.training.deployments import deploy  # imports the flows (and torch): only when deploying

    handle = db.store_handle(url) if url else None
    rows = deploy(api, handle)
    table = Table(title="Prefect deployments of this lab")
    for column in ("deployment", "pool", "entrypoint", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.deployment, row.pool, row.entrypoint, row.status)
    console.print(table)
    if handle:
        console.print(f"default store of every deployment: {handle}", highlight=False)
    console.print("serve them with `prefect worker start --pool instruments` on instrument hosts and "
                  "`prefect worker start --pool training` on the training machine", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``lab deploy`` to ``app``."""
    app.command("deploy")(deploy_command)
