"""Where the lab keeps its files, and the Prefect settings applied before Prefect is imported.

``LAB_HOME`` (default ``./.lab``) holds the SQLite store (``lab.db``) and Prefect's own files, so a
campaign's data sits beside the project unless told otherwise; ``LAB_DATABASE_URL`` points the
store at another database (e.g. PostgreSQL for a shared lab).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["lab_home", "prepare_prefect", "quiet_prefect_shutdown"]


def lab_home() -> Path:
    """The folder for the lab's files (created when missing)."""
    home = Path(os.environ.get("LAB_HOME", ".lab")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def prepare_prefect(quiet: bool = True) -> None:
    """Point Prefect at ``LAB_HOME/prefect`` and keep its console output to warnings.

    Prefect 3.8's temporary server can log a ``CancelledError`` while flushing events at process
    exit (a known shutdown issue fixed upstream after 3.8); that one logger is silenced at exit
    only, so real errors during a run still show.
    """
    os.environ.setdefault("PREFECT_HOME", str(lab_home() / "prefect"))
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary server needs more than Prefect's 20 s default on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def quiet_prefect_shutdown() -> None:
    """Silence the temporary server's event flusher; call once the last flow of the process ended.

    (Registering this with ``atexit`` at start-up is too early: Prefect's own exit handlers,
    registered later, run first.)
    """
    for name in ("prefect.server.services.task_run_recorder", "prefect.server.events.services", "prefect._internal"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
