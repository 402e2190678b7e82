"""The event log: what went wrong (or needs a scientist's eye) during a campaign.

Lost experiments, retries, policy fallbacks, rejected updates... one row each, with a level
(``info``, ``warning``, ``error``), a short machine-readable ``kind`` and a human sentence. Events
without a campaign belong to the lab as a whole (an instrument offline).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.models import EVENT_LEVELS, Event
from db.records import EventInfo
from db.types import aware_utc, maybe_utc

__all__ = ["events_after", "latest_event_id", "list_events", "log_event"]


def log_event(session: Session, at: datetime, level: str, kind: str, message: str, campaign_id: int | None = None,
              detail: dict[str, Any] | None = None) -> int:
    """Append an event; returns its id.

    Raises:
        ValueError: unknown level.
        CampaignNotFound: ``campaign_id`` names no campaign.
    """
    if level not in EVENT_LEVELS:
        raise ValueError(f"unknown event level {level!r}; expected one of {', '.join(EVENT_LEVELS)}")
    at = aware_utc(at)
    if campaign_id is not None:
        campaign_row(session, campaign_id)
    row = Event(campaign_id=campaign_id, at=at, level=level, kind=kind, message=message, detail=dict(detail or {}))
    session.add(row)
    session.flush()
    return row.id


def list_events(session: Session, campaign_id: int | None = None, since: datetime | None = None,
                level: str | None = None) -> list[EventInfo]:
    """Events (of one campaign, or all), at or after ``since``, optionally of one level; oldest first."""
    since = maybe_utc(since, "since")
    query = select(Event).order_by(Event.at, Event.id)
    if campaign_id is not None:
        query = query.where(Event.campaign_id == campaign_id)
    if since is not None:
        query = query.where(Event.at >= since)
    if level is not None:
        query = query.where(Event.level == level)
    return [EventInfo(r.id, r.campaign_id, r.at, r.level, r.kind, r.message, copy.deepcopy(r.detail))
            for r in session.scalars(query)]


def events_after(session: Session, after_id: int, campaign_id: int | None = None, limit: int = 500) -> list[EventInfo]:
    """Events with an id above ``after_id`` (of one campaign, or all), lowest id first, at most ``limit``.

    Ids follow the order rows were inserted, not committed: on PostgreSQL a transaction that
    commits late can add an id below one already read, so a reader keeps a look-back window
    (:class:`flows.notify.feed.EventFeed`).
    """
    query = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    if campaign_id is not None:
        query = query.where(Event.campaign_id == campaign_id)
    return [EventInfo(r.id, r.campaign_id, r.at, r.level, r.kind, r.message, copy.deepcopy(r.detail))
            for r in session.scalars(query)]


def latest_event_id(session: Session) -> int:
    """The highest event id in the store (0 when there is none)."""
    return int(session.scalar(select(func.max(Event.id))) or 0)
