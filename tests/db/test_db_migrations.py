"""Alembic migrations create exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.engine import Store, open_store
from db.models import Base
from db.upgrade import (
    MIGRATIONS_DIR,
    current_revision,
    downgrade_to,
    head_revision,
    upgrade_to_head,
)


def _differences(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def test_upgrade_head_yields_the_models_schema(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    assert _differences(store) == []
    tables = set(inspect(store.engine).get_table_names())
    assert tables == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}


def test_downgrade_to_base_and_up_again(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        downgrade_to(store.engine, "base")
        assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
        upgrade_to_head(store.engine)
        assert _differences(store) == []
    finally:
        store.dispose()


def test_reopening_a_migrated_store_is_a_no_op(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    open_store(url).dispose()
    again = open_store(url)
    assert current_revision(again.engine) == head_revision()
    again.dispose()


def test_migration_files_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


def test_the_comparison_would_notice_a_difference(tmp_path) -> None:
    from sqlalchemy import Column, Index, Integer, MetaData

    store = open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        changed = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["steps"].append_column(Column("extra", Integer, nullable=True))
        Index("ix_rewards_value", changed.tables["rewards"].c.value)
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), changed)
        kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in diffs)
        assert kinds == ["add_column", "add_index"]
    finally:
        store.dispose()


_OPEN = "import sys; from db.engine import open_store; open_store(sys.argv[1]).dispose()"


def _open_concurrently(url: str, n: int = 3) -> None:
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, url], stderr=subprocess.PIPE, text=True) for _ in range(n)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, errors


def test_workers_starting_at_once_on_a_fresh_sqlite_file_migrate_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    _open_concurrently(url)
    store = open_store(url)
    try:
        assert _differences(store) == []
    finally:
        store.dispose()


def test_workers_starting_at_once_on_a_fresh_postgres_database_migrate_once(postgres_url: str) -> None:
    import uuid

    from sqlalchemy import text

    from db.engine import make_engine

    admin = make_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"lab_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        _open_concurrently(url)
        store = open_store(url)
        assert _differences(store) == []
        store.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
