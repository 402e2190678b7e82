"""Alembic migrations of the ledger (``env.py``, ``script.py.mako``, ``versions/``).

A package only so that ``env.py`` ships with the project; Alembic loads these files by path, and
:func:`db.upgrade.upgrade_to_head` runs them programmatically (no ``alembic.ini`` needed in the cwd).
For hand work (``alembic revision``), use ``alembic -c db/migrations/alembic.ini ...``.
"""
