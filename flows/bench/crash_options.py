"""The scenario of one ``lab bench crash`` run: workers, campaigns, leases and disruptions, checked together.

:func:`crash_options` checks the options that only make sense together and fills the defaults
that depend on others; every problem is one line of a :class:`~flows.errors.FlowError`:

* ``workers`` (>= 1) processes, each under its own name; ``campaigns`` kept queued or running
  while kills remain (default: 1 for one worker, ``workers + 1`` for several, so that they
  compete; at least ``workers``); each worker runs up to ``ceil(campaigns / workers)`` of them
  (``--max-campaigns``), so that some have room to take over a campaign whose lease lapsed;
* ``lease_s``: the workers' lease (``--lease-s``, wall-clock seconds, >= 5; default 20, shorter
  than a loaded start-up now and then, so that leases sometimes lapse before a restart and other
  workers take campaigns over);
* ``lab_kills``: power cycles of the served lab; ``db_drops``: terminations of every connection
  to the ledger's database (PostgreSQL only); ``pg_restart``: restarts of a private PostgreSQL
  server the bench starts for the run (so ``db_url`` must be left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from flows.errors import FlowError

__all__ = ["DEFAULT_LEASE_S", "CrashOptions", "crash_options"]

#: The workers' lease in the bench (wall-clock seconds): see the module docstring.
DEFAULT_LEASE_S = 20.0


@dataclass(frozen=True)
class CrashOptions:
    """A checked scenario (see the module docstring).

    Attributes:
        kills: SIGKILLs over all workers.
        workers: worker processes side by side.
        campaigns: campaigns kept queued or running while kills remain.
        max_campaigns: each worker's ``--max-campaigns``.
        lease_s: the workers' lease (seconds).
        lab_kills, db_drops, pg_restart: disruptions of each kind.
        db_url: the ledger's URL as given (None: SQLite in the bench's folder, or the private server).
    """

    kills: int
    workers: int
    campaigns: int
    max_campaigns: int
    lease_s: float
    lab_kills: int
    db_drops: int
    pg_restart: int
    db_url: str | None

    @property
    def postgres(self) -> bool:
        """Whether the ledger is on PostgreSQL (given by URL, or the private server)."""
        return self.pg_restart > 0 or (self.db_url is not None and _backend(self.db_url) == "postgresql")


def _backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except Exception:  # sqlalchemy's ArgumentError, or a malformed URL of any kind: reported by the caller
        return ""


def crash_options(kills: int = 20, workers: int = 1, campaigns: int | None = None, lease_s: float = DEFAULT_LEASE_S,
                  lab_kills: int = 0, db_drops: int = 0, pg_restart: int = 0,
                  db_url: str | None = None) -> CrashOptions:
    """Check a scenario and fill its defaults.

    Raises:
        FlowError: one line per problem.
    """
    problems = []
    if kills < 1:
        problems.append(f"--kills {kills}: expected at least 1")
    if workers < 1:
        problems.append(f"--workers {workers}: expected at least 1")
    n = max(workers, 1)
    wanted = campaigns if campaigns is not None else (1 if n == 1 else n + 1)
    if wanted < n:
        problems.append(f"--campaigns {wanted}: expected at least one per worker ({n})")
    if not lease_s >= 5.0:
        problems.append(f"--lease-s {lease_s:g}: expected at least 5 s (renewed every quarter of it)")
    for flag, value in (("--lab-kills", lab_kills), ("--db-drops", db_drops), ("--pg-restart", pg_restart)):
        if value < 0:
            problems.append(f"{flag} {value}: expected 0 or more")
    if db_url is not None and _backend(db_url) not in ("sqlite", "postgresql"):
        problems.append("--db: expected a sqlite:/// or postgresql+psycopg:// URL")
    if pg_restart > 0 and db_url is not None:
        problems.append("--pg-restart restarts a private PostgreSQL server the bench starts for the run "
                        "(restarting a shared one would cut everyone else's connections): leave out --db")
    if db_drops > 0 and pg_restart == 0 and (db_url is None or _backend(db_url) != "postgresql"):
        problems.append("--db-drops terminates PostgreSQL connections: give --db postgresql+psycopg://... "
                        "(or --pg-restart, which runs on a private PostgreSQL server)")
    if problems:
        raise FlowError("lab bench crash: " + "; ".join(problems))
    return CrashOptions(kills=kills, workers=n, campaigns=wanted, max_campaigns=math.ceil(wanted / n),
                        lease_s=float(lease_s), lab_kills=lab_kills, db_drops=db_drops, pg_restart=pg_restart,
                        db_url=db_url)
