"""Where the lab keeps its files, and the Prefect settings applied before Prefect is imported.

``LAB_HOME`` (default ``./.lab``) holds the SQLite store (``lab.db``) and Prefect's own files, so a
campaign's data sits beside the project unless told otherwise; ``LAB_DATABASE_URL`` points the
store at another database (e.g. PostgreSQL for a shared lab).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["lab_home", "prepare_prefect"]


def lab_home() -> Path:
    """The folder for the lab's files (created when missing)."""
    home = Path(os.environ.get("LAB_HOME", ".lab")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def prepare_prefect(quiet: bool = True) -> None:
    """Point Prefect at ``LAB_HOME/prefect`` and keep its console output to warnings.

    Prefect 3.8's temporary API server (a subprocess started by the first flow) logs a
    ``CancelledError`` traceback while flushing events at exit (a known shutdown issue, fixed
    upstream after 3.8). Its own log level is set to CRITICAL, so only that server's messages are
    quieted: errors of our flows and tasks are raised and logged in this process as usual, and an
    API failure surfaces here as a client error. ``PREFECT_SERVER_LOGGING_LEVEL`` set in the
    environment wins.
    """
    os.environ.setdefault("PREFECT_HOME", str(lab_home() / "prefect"))
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    # the temporary server needs more than Prefect's 20 s default on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
