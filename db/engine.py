"""Opening the ledger: URL checks, engine set-up, a liveness check and migrations to head.

SQLite is the default (a file under ``$LAB_HOME``, zero set-up); PostgreSQL by URL
(``LAB_DATABASE_URL``) when several workers share a lab.

* SQLite connections run with ``journal_mode=WAL`` (readers never block the writer),
  ``foreign_keys=ON`` and ``busy_timeout=30000`` (a writer waits up to 30 s for another).
  ``sqlite://`` (no path) is a private in-memory database, for quick tests.
* PostgreSQL uses psycopg 3 with ``pool_pre_ping`` and a 10 s ``connect_timeout`` (unless the URL
  sets one). ``postgresql://`` and ``postgres://`` URLs are taken to mean psycopg. A password may
  hold any character, escaped or not (:func:`db.urls.parse_url`).

**Store handles** (README, "Secrets"). A Prefect flow records its parameters in Prefect's database
and shows them on its API, so a flow never takes a URL with its password: it takes the store's
*handle*, :func:`store_handle`, the URL with its secrets removed
(``postgresql+psycopg://lab@db-host:5432/lab``), and opens it with :func:`open_handle`, which finds
the password again, in this order:

1. the URL this process named by :func:`store_handle` (or :attr:`Store.handle`): ``lab worker --db URL``
   runs its flow in its own process, so the password never leaves that process's memory;
2. ``LAB_DATABASE_URL``, when it names the same database, user and host;
3. nothing: psycopg (libpq) then applies its own sources, ``PGPASSWORD`` or the password file
   ``PGPASSFILE`` (default ``~/.pgpass``), which libpq ignores unless only its owner can read it.

Example:
    >>> store = open_store("sqlite://")
    >>> store.dialect
    'sqlite'
    >>> store.dispose()
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from db.errors import BadDatabaseUrl, DatabaseUnreachable, mask_url, translate_errors
from db.types import json_dumps
from db.upgrade import upgrade_to_head
from db.urls import has_secrets, parse_url, without_secrets

__all__ = ["Store", "default_url", "make_engine", "open_handle", "open_store", "store_handle"]

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_POSTGRES_ALIASES = {"postgresql", "postgres", "postgresql+psycopg"}
#: Full URLs named in this process, by their handle (never written anywhere).
_NAMED: dict[str, str] = {}


def default_url() -> str:
    """The database URL to use when none is given.

    ``LAB_DATABASE_URL`` if set; else the SQLite file ``$LAB_HOME/lab.db``, where ``LAB_HOME``
    defaults to ``./.lab`` under the current directory (created if missing).
    """
    url = os.environ.get("LAB_DATABASE_URL", "").strip()
    if url:
        return url
    home = Path(os.environ.get("LAB_HOME") or Path.cwd() / ".lab").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'lab.db'}"


def _parse(url: str) -> URL:
    """Parse and normalise ``url``, refusing what the ledger does not support."""
    try:
        parsed = parse_url(url)
    except ValueError as exc:
        raise BadDatabaseUrl(url, f"it is not a database URL ({exc})") from exc
    driver = parsed.drivername
    if driver in _SQLITE_DRIVERS:
        return parsed.set(drivername="sqlite")
    if driver in _POSTGRES_ALIASES:
        if not parsed.host and not parsed.query.get("host"):
            raise BadDatabaseUrl(url, "a PostgreSQL URL needs a host")
        return parsed.set(drivername="postgresql+psycopg")
    raise BadDatabaseUrl(url, f"the scheme {driver!r} is not supported")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the ledger's settings (no connection is made yet).

    Raises:
        BadDatabaseUrl: malformed URL or unsupported scheme.
        DatabaseUnreachable: a SQLite file whose folder does not exist.
    """
    parsed = _parse(url)
    if parsed.drivername == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:"):
            engine = create_engine(parsed, poolclass=StaticPool, json_serializer=json_dumps,
                                   connect_args={"check_same_thread": False})
        else:
            folder = Path(path).resolve().parent
            if not folder.is_dir():
                raise DatabaseUnreachable(f"cannot open {mask_url(url)}: the folder {folder} does not exist; "
                                          "create it, or set LAB_HOME / LAB_DATABASE_URL")
            engine = create_engine(parsed, json_serializer=json_dumps,
                                   connect_args={"timeout": 30.0, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
    return create_engine(parsed, pool_pre_ping=True, json_serializer=json_dumps, connect_args=connect_args)


@dataclass(eq=False)
class Store:
    """An open ledger: an engine plus a session factory.

    Attributes:
        engine: the SQLAlchemy engine (for code inside :mod:`db` and for tests).
        url: the URL it was opened with (may hold a password: print :attr:`masked_url`).
    """

    engine: Engine
    url: str

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def masked_url(self) -> str:
        """The URL with its password replaced by ``***``."""
        return mask_url(self.url)

    @property
    def handle(self) -> str:
        """What to pass a Prefect flow instead of the URL: see :func:`store_handle`."""
        return store_handle(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back on any error.

        Database errors raised in the block (or at commit) come out as :class:`db.errors.StoreError`
        subclasses; other exceptions pass through unchanged (after the rollback).
        """
        with translate_errors(self.url):
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown, and before dropping a test database)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.masked_url!r})"


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the ledger at ``url`` (default: :func:`default_url`), check it answers, migrate it to head.

    Args:
        url: ``sqlite:///path/lab.db``, ``sqlite://`` (in memory) or ``postgresql+psycopg://user@host:5432/db``.
        migrate: run the Alembic migrations to head (a no-op when already there).

    Raises:
        BadDatabaseUrl: malformed URL or unsupported scheme.
        DatabaseUnreachable: the database does not answer (the message names the masked URL and a hint).
    """
    url = url or default_url()
    engine = make_engine(url)
    try:
        with translate_errors(url, connecting=True):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        with translate_errors(url):
            if migrate:
                upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, url)


def store_handle(url: str | None = None) -> str:
    """The handle of the store at ``url`` (default: :func:`default_url`): its URL without secrets.

    Safe to log and to pass to a Prefect flow. The full URL is remembered in this process (in memory
    only), so :func:`open_handle` here finds its password again.

    Raises:
        BadDatabaseUrl: malformed URL or unsupported scheme.
    """
    url = url or default_url()
    handle = without_secrets(_parse(url)).render_as_string(hide_password=False)
    _NAMED[handle] = url
    return handle


def open_handle(handle: str | None = None) -> Store:
    """Open the store a handle names, with the password found as the module docstring says (1, 2, 3).

    Args:
        handle: from :func:`store_handle`; ``None`` opens :func:`default_url`.

    Raises:
        BadDatabaseUrl: the handle carries a password (pass :func:`store_handle`'s result), or is malformed.
        DatabaseUnreachable: as :func:`open_store`.
    """
    if handle is None:
        return open_store()
    parsed = _parse(handle)
    if has_secrets(parsed):
        raise BadDatabaseUrl(handle, "a store handle must not carry a password; pass db.store_handle(url)")
    key = parsed.render_as_string(hide_password=False)
    return open_store(_NAMED.get(key) or _environment_url(key) or key)


def _environment_url(handle: str) -> str | None:
    """``LAB_DATABASE_URL`` if it is the store ``handle`` names (with its password), else None."""
    env = os.environ.get("LAB_DATABASE_URL", "").strip()
    try:
        return env if env and store_handle(env) == handle else None
    except BadDatabaseUrl:
        return None
