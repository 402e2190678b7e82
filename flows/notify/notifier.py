"""Notifications through apprise: what the event log says, plus campaigns that stopped moving.

A :class:`Notifier` is called from the worker loop (:meth:`Notifier.tick`, once a round; cheap
when nothing is new: one query for new events, and none per campaign until one may have
stalled) and once by ``lab update`` (:func:`notify_events`). It reads new events from an
:class:`~flows.notify.feed.EventFeed`, maps each to a notification kind (:data:`EVENT_KINDS`;
``policy_update`` by whether it was published), and sends those the notify file asks for.

**Stalled.** A campaign held by this worker is *stalled* when its status is ``running`` and its
last progress lies more than ``stalled_after_hours`` before ``now`` on the campaign's own clock
(the engine's clock, the one its events are stamped with; a simulated clock runs fast). Its last
progress is the time of its newest ``experiment_finished`` event, or the time it started running
when none has finished. One notification per stall: the key
``stalled:<campaign id>:<last progress, ISO>`` changes only when an experiment finishes.

**Never twice.** Each notification is recorded under its key (``event:<event id>`` or the stall's)
in its own committed transaction before it is sent, then marked delivered or not
(:mod:`db.notifications`): after a restart, or with two workers on one store, a key already taken
is not sent again. A sender that dies between the record and the send leaves it undelivered
(at most once, never twice). A new notifier resumes after the newest event a notification was
recorded for, or after the newest event when none ever was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import db
from flows.notify.config import NotifyConfig
from flows.notify.feed import EventFeed, event_line

__all__ = ["EVENT_KINDS", "Notifier", "apprise_sender", "notification_kind", "notify_events"]

log = logging.getLogger(__name__)

#: Event kind -> notification kind (``policy_update`` is mapped by its outcome).
EVENT_KINDS = {
    "campaign_completed": "campaign_finished",
    "campaign_failed": "campaign_failed",
    "instrument_unreachable": "instrument_fault",
    "dispatch_failed": "instrument_fault",
    "poll_failed": "instrument_fault",
    "experiment_lost": "experiment_lost",
    "approval_waiting": "approval_waiting",
}
#: Sends a title and a body; returns whether every destination accepted it.
Sender = Callable[[str, str], bool]


def notification_kind(event: db.EventInfo) -> str | None:
    """The notification kind of an event (``None``: it is not one)."""
    if event.kind == "policy_update":
        accepted = event.detail.get("accepted")
        published = accepted if isinstance(accepted, bool) else event.level == "info"
        return "policy_published" if published else "policy_rejected"
    return EVENT_KINDS.get(event.kind)


def apprise_sender(config: NotifyConfig) -> Sender:
    """A sender to every URL of ``config`` (apprise; each send waits for the destinations' replies)."""
    import apprise

    ap = apprise.Apprise()
    for url in config.urls:
        ap.add(url)

    def send(title: str, body: str) -> bool:
        return bool(ap.notify(title=title, body=body))

    return send


@dataclass
class Notifier:
    """Sends the notifications a notify file asks for (see the module docstring).

    Args:
        store: the open store.
        config: the checked notify file.
        send: how to send (default: :func:`apprise_sender` of ``config``).
        after: read events after this id (default: see the module docstring).
    """

    store: db.Store
    config: NotifyConfig
    send: Sender | None = None
    after: int | None = None
    _progress: dict[int, datetime] = field(default_factory=dict, init=False)
    _names: dict[int, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.send is None:
            self.send = apprise_sender(self.config)
        after = self.after
        if after is None:
            with self.store.session() as s:
                after = db.last_notified_event(s)
        self.feed = EventFeed(self.store, after=after)

    def tick(self, now: datetime | None = None, held: Iterable[int] = ()) -> int:
        """Send what is new; check ``held`` campaigns for a stall at ``now`` (their clock). Returns how many went out."""
        sent = 0
        for event in self.feed.poll():
            if event.kind == "experiment_finished" and event.campaign_id is not None:
                self._progress[event.campaign_id] = max(event.at, self._progress.get(event.campaign_id, event.at))
            kind = notification_kind(event)
            if kind is not None and kind in self.config.on:
                sent += self._notify(f"event:{event.id}", kind, self._title(kind, event.campaign_id), event_line(event),
                                     event.campaign_id, event.id, event.at)
        if now is not None and "stalled" in self.config.on:
            for cid in held:
                sent += self._check_stalled(cid, now)
        return sent

    def _title(self, kind: str, campaign_id: int | None) -> str:
        what = kind.replace("_", " ")
        if campaign_id is None:
            return f"lab: {what}"
        if campaign_id not in self._names:
            with self.store.session() as s:
                self._names[campaign_id] = db.get_campaign(s, campaign_id).name
        return f"lab: {what}: campaign {campaign_id} ({self._names[campaign_id]})"

    def _last_progress(self, campaign_id: int) -> datetime | None:
        if campaign_id not in self._progress:
            with self.store.session() as s:
                info = db.get_campaign(s, campaign_id)
                done = [e.at for e in db.list_events(s, campaign_id) if e.kind == "experiment_finished"]
            start = max(done) if done else info.started_at
            if start is None:
                return None
            self._progress[campaign_id] = start
        return self._progress[campaign_id]

    def _check_stalled(self, campaign_id: int, now: datetime) -> int:
        last = self._last_progress(campaign_id)
        limit = timedelta(hours=self.config.stalled_after_hours)
        if last is None or now - last <= limit:
            return 0
        with self.store.session() as s:
            if db.get_campaign(s, campaign_id).status != "running":
                return 0
        hours = (now - last).total_seconds() / 3600.0
        body = (f"{now:%Y-%m-%d %H:%M} campaign {campaign_id}: no experiment finished for {hours:.1f} h of the campaign's "
                f"clock (since {last:%Y-%m-%d %H:%M}; threshold {self.config.stalled_after_hours:g} h)")
        return self._notify(f"stalled:{campaign_id}:{last.isoformat()}", "stalled", self._title("stalled", campaign_id),
                            body, campaign_id, None, now)

    def _notify(self, key: str, kind: str, title: str, body: str, campaign_id: int | None, event_id: int | None,
                at: datetime) -> int:
        try:
            with self.store.session() as s:
                nid = db.record_notification(s, key, kind, at, campaign_id=campaign_id, event_id=event_id,
                                             detail={"title": title, "body": body})
        except db.ConflictingRecord:
            return 0  # another sender recorded it first
        if nid is None:
            return 0
        assert self.send is not None
        try:
            ok, error = self.send(title, body), None
        except Exception as exc:  # a destination's failure must never stop the worker
            ok, error = False, f"{type(exc).__name__}: {exc}"
        with self.store.session() as s:
            db.mark_notification(s, nid, ok, {"error": error or "a destination refused it"} if not ok else None)
        if not ok:
            log.warning("notification %s (%s) was not delivered to %s", key, kind, ", ".join(self.config.masked_urls()))
        return 1


def notify_events(store: db.Store, config: NotifyConfig, after: int, send: Sender | None = None) -> int:
    """Send what the event log gained after event ``after`` (``lab update`` outside a worker); returns how many went out."""
    return Notifier(store, config, send, after=after).tick()
