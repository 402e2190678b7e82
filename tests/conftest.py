"""Fixtures shared by every test package.

* ``postgres_url`` / ``postgres_store``: a fresh PostgreSQL database for the test session, on the
  server named by ``LAB_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
  created as ``lab_test_<random>`` and dropped at the end. With no server answering, tests that need
  it are skipped with the reason, unless ``LAB_TEST_POSTGRES_REQUIRED=1`` (CI sets it) makes that a failure.
* ``prefect_harness``: one Prefect test server for the whole session (starting one takes ~15 s).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text

from db.engine import Store, make_engine, open_store
from db.errors import mask_url

PG_URL = os.environ.get("LAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[tuple[Engine, str]]:
    """An admin engine on the test server and a new, empty database ``<prefix>_<random>`` (dropped at the end).

    With no server answering, the test is skipped with the reason, or fails under
    ``LAB_TEST_POSTGRES_REQUIRED=1``.
    """
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {mask_url(PG_URL)}: {getattr(exc, 'orig', exc)}"
        if os.environ.get("LAB_TEST_POSTGRES_REQUIRED") == "1":
            pytest.fail(reason + " (LAB_TEST_POSTGRES_REQUIRED=1)")
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test session (dropped at the end)."""
    with fresh_postgres_database("lab_test") as (admin, name):
        yield admin.url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_store(postgres_url: str) -> Iterator[Store]:
    """One store on the session's PostgreSQL database, migrated once."""
    store = open_store(postgres_url)
    yield store
    store.dispose()



@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect server and database for the session's flows."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    with prefect_test_harness(server_startup_timeout=120):
        yield
