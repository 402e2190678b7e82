"""Options shared by the ``lab`` commands (one definition, one help text)."""

from __future__ import annotations

import typer

__all__ = ["DB_OPTION", "LAB_OPTION"]

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $LAB_DATABASE_URL or sqlite:///$LAB_HOME/lab.db).")
LAB_OPTION = typer.Option(None, "--lab-file", help="Lab file naming real instruments and ports; default: simulated lab.")
