"""The event feed: the store's events after a cursor, each once, as one-line messages.

The one source of what ``lab worker`` prints, what ``lab status --watch`` follows and what
:class:`~flows.notify.notifier.Notifier` sends. An :class:`EventFeed` remembers the highest
event id it has read; :meth:`EventFeed.poll` returns the events after it. Event ids follow the
order rows were inserted, not committed, so on PostgreSQL an event can commit after one with a
higher id was read: the feed looks back ``lookback`` ids each time and skips those it has seen.

Example:
    >>> from datetime import datetime, timezone
    >>> e = db.EventInfo(7, 3, datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc), "warning", "experiment_lost",
    ...                  "C3-E2 passed its deadline", {})
    >>> event_line(e)
    '2026-01-05 22:00 campaign 3: warning: C3-E2 passed its deadline'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import db

__all__ = ["EventFeed", "event_line"]


def event_line(event: db.EventInfo) -> str:
    """One line for a person: the event's time (its campaign's clock), campaign, level when not info, message."""
    when = f"{event.at:%Y-%m-%d %H:%M}"
    level = "" if event.level == "info" else f"{event.level}: "
    text = " ".join(event.message.split())
    if event.campaign_id is None:
        return f"{when} lab: {level}{text}"
    label = f"campaign {event.campaign_id}"
    if text.startswith(label + " ") or text.startswith(label + ":"):
        return f"{when} {level}{text}"
    return f"{when} {label}: {level}{text}"


@dataclass
class EventFeed:
    """New events of the store (or of one campaign), each returned once.

    Args:
        store: the open store.
        after: start after this event id (``None``: after the newest event now, so only new ones come).
        campaign_id: only this campaign's events.
        lookback: ids re-read below the highest seen (late commits on PostgreSQL).
    """

    store: db.Store
    after: int | None = None
    campaign_id: int | None = None
    lookback: int = 64
    _seen: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if self.after is None:
            with self.store.session() as s:
                self.after = db.latest_event_id(s)
        self._top = self.after

    @property
    def cursor(self) -> int:
        """The highest event id read so far."""
        return self._top

    def poll(self, limit: int = 500) -> list[db.EventInfo]:
        """Events not returned before, lowest id first (at most ``limit``)."""
        low = max(self.after or 0, self._top - self.lookback)
        with self.store.session() as s:
            events = db.events_after(s, low, campaign_id=self.campaign_id, limit=limit + len(self._seen))
        new = [e for e in events if e.id not in self._seen][:limit]
        for e in new:
            self._seen.add(e.id)
            self._top = max(self._top, e.id)
        floor = self._top - self.lookback
        self._seen = {i for i in self._seen if i > floor}
        return new
