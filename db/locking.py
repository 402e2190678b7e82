"""Serialising read-then-write sections across workers, on both engines.

PostgreSQL: row locks (``SELECT ... FOR UPDATE [SKIP LOCKED]``) where a row exists, and
transaction-scoped advisory locks (:func:`lock_for_write`) where the thing to guard is not a row
(an instrument name, a campaign's next decision index).

SQLite allows one writer at a time. Python's sqlite3 driver runs ``SELECT`` statements outside any
transaction until the first write, so a plain read-then-write is *not* atomic across processes.
:func:`lock_for_write` therefore starts the transaction with a write that changes nothing: the
session then holds SQLite's single write lock (other writers wait up to ``busy_timeout``) until it
commits or rolls back, and everything it reads afterwards is current.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["is_postgres", "lock_for_write"]


def is_postgres(session: Session) -> bool:
    """Whether the session's database is PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def lock_for_write(session: Session, key: str) -> None:
    """Hold a lock named ``key`` until the session's transaction ends.

    PostgreSQL: ``pg_advisory_xact_lock(hashtext(key))`` (only sections using the same key wait).
    SQLite: the database-wide write lock (every writer waits).
    """
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        session.execute(text("UPDATE campaigns SET id = id WHERE 1 = 0"))
