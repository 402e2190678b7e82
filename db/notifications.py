"""Notifications sent (or tried), one row each, keyed so that none goes out twice.

A sender first *records* the notification under its key (:func:`record_notification`, committed
before a byte goes out), then sends it and marks the outcome (:func:`mark_notification`). A key
already taken means it was sent, or tried, before: by this process before a restart, or by
another worker on the same store. So a notification goes out at most once; one whose sender
died between the record and the send stays ``delivered = false`` and is not retried.
Keys name what was notified: ``event:<event id>``, ``stalled:<campaign id>:<last progress, ISO>``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Notification
from db.types import aware_utc

__all__ = ["NotificationInfo", "last_notified_event", "list_notifications", "mark_notification", "record_notification"]


@dataclass(frozen=True)
class NotificationInfo:
    """One notification as stored.

    Attributes:
        key: what was notified (``event:<id>``, ``stalled:<campaign>:<iso time>``); unique.
        kind: the notification's kind (``campaign_finished``, ``stalled``...).
        at: when it was recorded (the notifying clock's time, aware UTC).
        delivered: whether every destination accepted it.
        detail: its title and body, and the sender's account of a failure.
    """

    id: int
    key: str
    kind: str
    campaign_id: int | None
    event_id: int | None
    at: datetime
    delivered: bool
    detail: dict[str, Any]


def record_notification(session: Session, key: str, kind: str, at: datetime, *, campaign_id: int | None = None,
                        event_id: int | None = None, detail: dict[str, Any] | None = None) -> int | None:
    """Take ``key`` for a notification about to be sent (``delivered`` false); returns its id.

    Call it in a session of its own, committed before sending: when another sender takes the key
    between the look and the insert, the unique key refuses the row (``ConflictingRecord`` from
    :meth:`db.engine.Store.session`), which also means "do not send".

    Returns:
        The new row's id, or ``None`` when ``key`` is already taken (it must not be sent again).
    """
    at = aware_utc(at)
    if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
        return None
    row = Notification(key=key, kind=kind, campaign_id=campaign_id, event_id=event_id, at=at, delivered=False,
                       detail=dict(detail or {}))
    session.add(row)
    session.flush()
    return row.id


def mark_notification(session: Session, notification_id: int, delivered: bool, detail: dict[str, Any] | None = None) -> None:
    """Record whether notification ``notification_id`` was delivered (``detail`` is merged into its own)."""
    row = session.get(Notification, notification_id)
    if row is None:
        raise LookupError(f"no notification {notification_id}")
    row.delivered = delivered
    if detail:
        row.detail = {**row.detail, **detail}
    session.flush()


def list_notifications(session: Session, kind: str | None = None) -> list[NotificationInfo]:
    """Every notification (of one kind), in the order they were recorded."""
    query = select(Notification).order_by(Notification.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return [NotificationInfo(r.id, r.key, r.kind, r.campaign_id, r.event_id, r.at, r.delivered, copy.deepcopy(r.detail))
            for r in session.scalars(query)]


def last_notified_event(session: Session) -> int | None:
    """The newest event id any notification was recorded for (``None``: none ever was)."""
    return session.scalar(select(func.max(Notification.event_id)))
