"""What ``lab worker`` shows while it runs: one line per event, and a progress bar per campaign.

A thread follows the store's event feed (:class:`flows.notify.feed.EventFeed`, from the newest
event at start) every ``interval_s`` real seconds, prints each new event as one line above the
bars (:func:`flows.notify.feed.event_line`), and redraws each campaign's bar from the
:class:`flows.notify.tally.CampaignTally`: experiments with a result over the budget, the best
reward so far and the status. ``--quiet`` shows neither. On a terminal that is not a TTY the
bars are drawn once, at the end, and the event lines are plain lines.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

import db
from flows.notify.feed import EventFeed, event_line
from flows.notify.tally import CampaignTally

__all__ = ["WorkerDisplay"]


class WorkerDisplay:
    """Event lines and progress bars for one ``lab worker`` run (a no-op when not ``enabled``).

    Args:
        store: the worker's store (read only).
        console: where to print.
        enabled: False for ``--quiet``.
        interval_s: real seconds between looks at the store.
    """

    def __init__(self, store: db.Store, console: Console, enabled: bool = True, interval_s: float = 0.5) -> None:
        self.store, self.console, self.enabled, self.interval_s = store, console, enabled, interval_s
        self._stop = threading.Event()
        self._bars: dict[int, TaskID] = {}
        self._thread: threading.Thread | None = None
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), console=console, transient=False)

    def start(self) -> WorkerDisplay:
        """Start following the store (from its newest event)."""
        if not self.enabled:
            return self
        self.feed = EventFeed(self.store)
        self.tally = CampaignTally(self.store)
        self.progress.start()
        self._thread = threading.Thread(target=self._follow, name="worker-display", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Show what is left to show, and stop."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        try:
            self.poll()
        except db.StoreError:
            pass
        self.progress.stop()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except db.StoreError:
                continue  # a busy SQLite file or a dropped connection: the next look will do

    def poll(self) -> None:
        """Print the new events and redraw the bars of the campaigns they changed."""
        events = self.feed.poll()
        for e in events:
            self.progress.console.print(escape(event_line(e)), highlight=False, soft_wrap=True)
        for cid in self.tally.update(events):
            st = self.tally.standings[cid]
            info = f"{st.status}, " + ("no reward yet" if st.best is None else f"best reward {st.best:.3f}")
            if cid not in self._bars:
                self._bars[cid] = self.progress.add_task(f"campaign {cid} {st.name}", total=st.budget, info=info)
            self.progress.update(self._bars[cid], completed=st.finished, info=info)
