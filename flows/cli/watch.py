"""``lab status --watch``: follow the store live until Ctrl-C, or until the watched campaign ends.

Every ``interval`` real seconds it prints the events that arrived since the last look, one line
each (:func:`flows.notify.feed.event_line`), and refreshes the summary: on a terminal, the
summary tables (one campaign) or the campaign list redrawn in place (rich ``Live``); elsewhere (a
pipe, a log file), one line per campaign whose standing changed
(:meth:`flows.notify.tally.Standing.line`), starting with every campaign not yet ended. Watching
one campaign starts with its last 10 events and ends by itself once it is completed, failed or
cancelled, with its summary; watching all ends on Ctrl-C, or with ``--until-done`` once no
campaign is queued, running or paused.
"""

from __future__ import annotations

import time
from typing import Optional

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table

import db
from flows.campaign.report import summarise, summary_tables
from flows.notify.feed import EventFeed, event_line
from flows.notify.tally import CampaignTally
from lab.clock import WallClock

__all__ = ["watch"]

#: Campaign statuses that end a watch of that campaign.
DONE = ("completed", "failed", "cancelled")
#: Events of the watched campaign shown when the watch starts.
HISTORY = 10


def _summary(store: db.Store, campaign_id: Optional[int]) -> RenderableType:
    if campaign_id is not None:
        return Group(*summary_tables(summarise(store, campaign_id, WallClock().now())))
    table = Table(title=f"Campaigns in {store.masked_url}")
    for col in ("id", "name", "status", "experiments"):
        table.add_column(col)
    with store.session() as s:
        for c in db.list_campaigns(s):
            counts = db.count_by_state(s, c.id)
            table.add_row(str(c.id), c.name, c.status, " ".join(f"{k}={v}" for k, v in counts.items() if v))
    return table


def _done(store: db.Store, campaign_id: Optional[int], until_done: bool) -> bool:
    with store.session() as s:
        if campaign_id is not None:
            return db.get_campaign(s, campaign_id).status in DONE
        return until_done and all(c.status in DONE for c in db.list_campaigns(s))


def _start(store: db.Store, campaign_id: Optional[int], console: Console) -> EventFeed:
    """Print the watched campaign's recent events; a feed of what comes after."""
    with store.session() as s:
        latest = db.latest_event_id(s)
        recent = db.list_events(s, campaign_id)[-HISTORY:] if campaign_id is not None else []
    for e in recent:
        if e.id <= latest:
            console.print(escape(event_line(e)), highlight=False, soft_wrap=True)
    return EventFeed(store, after=latest, campaign_id=campaign_id)


def watch(store: db.Store, campaign_id: Optional[int], interval_s: float, until_done: bool, console: Console) -> None:
    """Follow the store (see the module docstring); returns on Ctrl-C or when done.

    Raises:
        db.CampaignNotFound: ``campaign_id`` names no campaign.
    """
    if campaign_id is not None:
        with store.session() as s:
            db.get_campaign(s, campaign_id)
    feed = _start(store, campaign_id, console)
    tally = CampaignTally(store)
    with store.session() as s:
        active = [c.id for c in db.list_campaigns(s) if c.status not in DONE]
    for cid in [campaign_id] if campaign_id is not None else active:
        tally.add(cid)
    try:
        if console.is_terminal:
            _live(store, campaign_id, interval_s, until_done, console, feed)
            return
        for cid in sorted(tally.standings):
            console.print(escape(tally.standings[cid].line()), highlight=False, soft_wrap=True)
        if not tally.standings:
            console.print("no campaign is queued, running or paused")
        done = False
        while not done:
            done = _done(store, campaign_id, until_done)  # read first: the events committed with the end come next
            events = feed.poll()
            for e in events:
                console.print(escape(event_line(e)), highlight=False, soft_wrap=True)
            for cid in tally.update(events):
                console.print(escape(tally.standings[cid].line()), highlight=False, soft_wrap=True)
            if not done:
                time.sleep(interval_s)
        if campaign_id is not None:
            console.print(_summary(store, campaign_id))
    except KeyboardInterrupt:
        console.print("stopped watching")


def _live(store: db.Store, campaign_id: Optional[int], interval_s: float, until_done: bool, console: Console,
          feed: EventFeed) -> None:
    """The terminal view: event lines above a summary redrawn in place."""
    with Live(_summary(store, campaign_id), console=console, auto_refresh=False) as live:
        done = False
        while not done:
            done = _done(store, campaign_id, until_done)
            for e in feed.poll():
                live.console.print(escape(event_line(e)), highlight=False, soft_wrap=True)
            live.update(_summary(store, campaign_id), refresh=True)
            if not done:
                time.sleep(interval_s)
