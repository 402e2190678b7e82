"""Alembic environment of the ledger.

Run programmatically by :func:`db.upgrade.upgrade_to_head`, which passes an open connection in
``config.attributes["connection"]``; run from the command line (``alembic -c db/migrations/alembic.ini``)
it connects to ``sqlalchemy.url``, else ``LAB_DATABASE_URL``, else the default SQLite file.

Several workers starting at once migrate one after the other (the later ones find the schema at
head and do nothing): on PostgreSQL the migration holds a transaction-scoped advisory lock, on
SQLite it starts with ``BEGIN IMMEDIATE`` (the database's write lock) before reading the revision.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from db.models import Base

#: Arbitrary constant key of the PostgreSQL advisory lock taken while migrating.
MIGRATION_LOCK_KEY = 7_041_983_120


def _dbapi_in_transaction(connection: Connection) -> bool:
    """Whether the driver-level connection under ``connection`` has a transaction open."""
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:
        raise RuntimeError("the migration connection has no DBAPI connection (it was closed or invalidated)")
    return bool(dbapi.in_transaction)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        elif connection.dialect.name == "sqlite" and not _dbapi_in_transaction(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # committed when the caller's transaction ends
        context.run_migrations()


def _main() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata,
                          literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    from db.engine import default_url, make_engine  # only for command-line use

    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if getattr(context, "config", None) is not None:  # absent when imported outside Alembic (e.g. by a linter)
    _main()
