"""A worker's name and its lease on the wall clock, renewed by a keep-alive thread.

A :class:`WorkerLease` takes the worker's name in the store (:func:`db.register_worker`; a name
held by a live process is refused, one whose holder is gone is taken at once), then renews it, and
the lease of every running campaign claimed under it, every ``lease_s / 4`` wall-clock seconds from
a thread of its own. Renewal never depends on the campaign clock (a simulated clock at 1800x, or
one set back by a simulator restart, changes nothing) nor on how long a tick takes. It stops
renewing when the worker's loop has not finished a round for ``stall_s`` seconds (a hung worker
lets its campaigns go) and when another process has taken the name (:attr:`lost`).

Example:
    >>> from db import open_store
    >>> store = open_store("sqlite://")
    >>> with WorkerLease(store, "doc-worker", lease_s=60) as lease:
    ...     lease.alive()
    True
    >>> store.dispose()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import db
from lab.clock import WallClock

__all__ = ["LEASE_S", "WorkerLease", "default_worker_name", "refuse_a_live_name"]

log = logging.getLogger(__name__)

#: How long a worker's claim on its campaigns outlives its last renewal (wall-clock seconds).
LEASE_S = 120.0


def default_worker_name() -> str:
    """The host name: one worker per host by default (``lab worker --name`` for more)."""
    return socket.gethostname()


def _gone(holder: db.WorkerInfo) -> bool:
    """Whether the name's holder is known dead: on this host, and its process no longer runs."""
    if holder.host != socket.gethostname():
        return False
    if holder.pid == os.getpid():
        return True  # this very process (a second registration of the same worker)
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, as another user
    return False


def refuse_a_live_name(store: db.Store, name: str) -> None:
    """Fail at once, before Prefect starts, when a live process holds ``name`` (the lease still decides).

    Raises:
        db.WorkerNameTaken: a live process holds the name.
    """
    with store.session() as s:
        db.check_worker_name(s, name, WallClock().now(), is_gone=_gone)


@dataclass
class WorkerLease:
    """Holds a worker name and keeps its lease alive.

    Args:
        store: the open store.
        name: the worker's name (campaigns' ``claimed_by``).
        lease_s: lease length (wall-clock seconds); renewed every quarter of it.
        stall_s: stop renewing when no round finished for this long (seconds; default ten leases).
    """

    store: db.Store
    name: str
    lease_s: float = LEASE_S
    stall_s: float | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost: str | None = field(default=None, init=False)
    _clock: WallClock = field(default_factory=WallClock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _last_round: float = field(default_factory=time.monotonic, init=False)

    def now(self) -> datetime:
        """The wall-clock time leases are stamped with."""
        return self._clock.now()

    def acquire(self) -> None:
        """Take the name and start renewing.

        Raises:
            db.WorkerNameTaken: a live process holds the name.
        """
        with self.store.session() as s:
            db.register_worker(s, self.name, token=self.token, host=socket.gethostname(), pid=os.getpid(),
                               at=self.now(), lease_s=self.lease_s, is_gone=_gone)
        self._thread = threading.Thread(target=self._keep_alive, name=f"lease:{self.name}", daemon=True)
        self._thread.start()

    def round_done(self) -> None:
        """The worker finished a round (it is not hung)."""
        self._last_round = time.monotonic()

    def alive(self) -> bool:
        """True while this process still holds the name."""
        return self.lost is None

    def renew(self) -> None:
        """Renew now (the thread calls this; a failure to reach the database is retried next time)."""
        try:
            with self.store.session() as s:
                db.renew_worker(s, self.name, self.token, self.now())
        except db.WorkerLeaseLost as exc:
            self.lost = str(exc)
        except db.StoreError as exc:
            log.warning("renewing the lease of worker %s failed (retried in %.0f s): %s", self.name, self.lease_s / 4, exc)

    def _keep_alive(self) -> None:
        stall = self.stall_s if self.stall_s is not None else 10 * self.lease_s
        while not self._stop.wait(self.lease_s / 4) and self.alive():
            if time.monotonic() - self._last_round > stall:
                log.warning("worker %s finished no round for %.0f s: its leases lapse", self.name, stall)
                continue
            self.renew()

    def release(self) -> None:
        """Stop renewing and give the name up, so that another worker may take the campaigns at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.alive():
            try:
                with self.store.session() as s:
                    db.retire_worker(s, self.name, self.token, self.now())
            except db.StoreError as exc:
                log.warning("giving up worker name %s failed (its leases lapse in %.0f s): %s", self.name, self.lease_s, exc)

    def __enter__(self) -> WorkerLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
