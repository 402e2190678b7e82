"""Column types and value helpers shared by the ledger's tables.

* :class:`UTCDateTime` stores aware UTC datetimes on both engines and always returns aware UTC
  (SQLite keeps no time zone, so values are stored naive-UTC and made aware again on the way out).
* :func:`json_dumps` is the engines' JSON serializer: numpy scalars and arrays become plain numbers
  and lists, and NaN/infinity are refused (PostgreSQL's ``json`` type rejects them, so SQLite does too).
* :func:`aware_utc` checks the timestamps callers pass in: the ledger never reads a clock itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "aware_utc", "json_dumps", "maybe_utc"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column: aware UTC in, aware UTC out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def aware_utc(moment: datetime, what: str = "at") -> datetime:
    """``moment`` converted to UTC.

    Raises:
        ValueError: ``moment`` is naive (a naive ``datetime.now()`` is local time, a classic bug):
            pass the campaign clock's ``now()``, which is aware.
    """
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{what}={moment.isoformat()} is naive; pass an aware UTC datetime (e.g. clock.now())")
    return moment.astimezone(timezone.utc)


def maybe_utc(moment: datetime | None, what: str) -> datetime | None:
    """:func:`aware_utc` that lets ``None`` through."""
    return None if moment is None else aware_utc(moment, what)


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and tuples-like objects."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable: store plain numbers, strings, lists and dicts")


def json_dumps(value: Any) -> str:
    """Serialize a JSON column value (see module docstring)."""
    try:
        return json.dumps(value, default=_plain, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"cannot store NaN or infinity in a JSON column ({exc}); use null or a finite number") from exc
