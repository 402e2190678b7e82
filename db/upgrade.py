"""Run the ledger's Alembic migrations from code (no ``alembic.ini`` needed in the cwd).

Example:
    >>> from sqlalchemy import create_engine
    >>> engine = create_engine("sqlite://")
    >>> upgrade_to_head(engine)
    >>> current_revision(engine) == head_revision()
    True
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "downgrade_to", "head_revision", "upgrade_to_head"]

#: The folder holding ``env.py`` and ``versions/`` (inside the installed package).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic's ``context`` is process-global: one migration at a time per process.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the package's migrations (``url`` only for offline/CLI use)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: not yet migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to the newest revision (a no-op when it is already there).

    Concurrent migrations by several processes are serialised by ``env.py`` (an advisory lock on
    PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and by a lock within one process.
    """
    if current_revision(engine) == head_revision():
        return
    config = alembic_config()
    with _ALEMBIC_LOCK, engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def downgrade_to(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table). For tests and repair."""
    config = alembic_config()
    with _ALEMBIC_LOCK, engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
