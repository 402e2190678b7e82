"""Disruptions beside the worker kills of ``lab bench crash``: lab power cycles, dropped connections, database restarts.

* **Lab power cycle** (``--lab-kills``, :func:`power_cycle_lab`): every served simulator at once, at one
  moment of the lab's clock, as a lab losing power: each forgets what it keeps in RAM (the job it is
  running, staged setpoints, the error queue; :meth:`simulators.jobs.JobDevice.power_cycle`), keeps
  its non-volatile job log and the lab's clock, and its link drops (the drivers reconnect). A job
  cut this way is lost: the ledger must say so, with a reason (:mod:`flows.bench.power_cuts`).
* **Database drop** (``--db-drops``, PostgreSQL, :func:`drop_connections`): every connection to the
  bench's database is terminated (``pg_terminate_backend``), the workers' and the bench's own alike.
* **Database restart** (``--pg-restart``): the bench's private server crashes and starts again
  (:meth:`flows.bench.pg_private.PrivateServer.restart`).

A :class:`Disruptor` spreads them over the kill phase: disruption ``j`` of ``D`` (kinds shuffled
with the bench's seed) is due once ``floor(j K / D)`` of the ``K`` kills are done, and fires a
uniformly drawn ``0-MAX_DELAY_S`` real seconds after it is due and some worker holds a campaign
(mid-campaign), so it lands while workers dispatch, poll and ingest. Those still pending when the
kills are done (more disruptions than kills) fire the same way in the final phase.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from db.engine import make_engine

__all__ = ["DISRUPTIONS", "MAX_DELAY_S", "Disruptor", "drop_connections", "power_cycle_lab"]

#: Disruption kinds, as the report names them.
DISRUPTIONS = ("lab_power_cycle", "db_drop", "pg_restart")
#: Longest real delay between a disruption falling due and firing (seconds).
MAX_DELAY_S = 10.0


def power_cycle_lab(lab: Any) -> list[str]:
    """Power-cycle every simulator of a served lab at the lab clock's now; returns the keys of the jobs cut.

    ``lab`` is duck-typed as :class:`simulators.lab.SimulatedLab`: ``clock``, ``devices`` (each with
    ``power_cycle(at)`` and ``faults.record_restart``) and ``served`` (each with ``drop()``).
    """
    at = lab.clock.now()
    cut: list[str] = []
    for name, device in lab.devices.items():
        key = device.power_cycle(at)
        device.faults.record_restart(at, "", key, cut=key is not None)
        if key is not None:
            cut.append(key)
        served = lab.served.get(name)
        if served is not None:
            served.drop()
    return cut


def drop_connections(admin_url: str, database: str) -> int:
    """Terminate every connection to ``database`` on the server of ``admin_url``; returns how many.

    ``admin_url`` must name another database of the same server (its own connection is spared).
    """
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar()
        return int(killed or 0)
    finally:
        admin.dispose()


@dataclass
class Disruptor:
    """Fires the disruptions of one bench run (see the module docstring).

    Args:
        counts: how many of each kind (:data:`DISRUPTIONS`).
        kills: the kills the run delivers (the disruptions are spread over them).
        rng: the bench's random source (kinds' order, delays).
        actions: kind -> a callable that disrupts and returns a JSON-able detail.
        sim_time: the lab's clock as text (logged with each disruption).
    """

    counts: Mapping[str, int]
    kills: int
    rng: random.Random
    actions: Mapping[str, Callable[[], Any]]
    sim_time: Callable[[], str] = lambda: ""
    log: list[dict[str, Any]] = field(default_factory=list)
    _plan: list[str] = field(default_factory=list, init=False)
    _fire_at: float | None = field(default=None, init=False)
    _t0: float = field(default_factory=time.monotonic, init=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(DISRUPTIONS))
        if unknown or any(n < 0 for n in self.counts.values()):
            raise ValueError(f"disruption counts {dict(self.counts)}: expected kinds among {DISRUPTIONS}, counts >= 0")
        self._plan = [kind for kind in DISRUPTIONS for _ in range(int(self.counts.get(kind, 0)))]
        self.rng.shuffle(self._plan)

    @property
    def pending(self) -> int:
        """Disruptions not fired yet."""
        return len(self._plan)

    def due_after(self, j: int) -> int:
        """Kills to be done before disruption ``j`` (0-based, in plan order) falls due."""
        total = len(self.log) + len(self._plan)
        return (j * self.kills) // max(total, 1)

    def tick(self, kills_done: int, holding: bool) -> dict[str, Any] | None:
        """Fire the next disruption if it is due, its delay has passed and a worker holds a campaign (``holding``)."""
        if not self._plan or kills_done < self.due_after(len(self.log)):
            return None
        now = time.monotonic()
        if self._fire_at is None:
            self._fire_at = now + self.rng.random() * MAX_DELAY_S
        if now < self._fire_at or not holding:
            return None
        kind = self._plan.pop(0)
        self._fire_at = None
        started = time.monotonic()
        detail = self.actions[kind]()
        entry = {"n": len(self.log) + 1, "kind": kind, "at_s": round(started - self._t0, 2), "kills_before": kills_done,
                 "took_s": round(time.monotonic() - started, 3), "sim_time": self.sim_time(), "detail": detail}
        self.log.append(entry)
        return entry

    def summary(self) -> dict[str, Any]:
        """JSON-able: delivered counts by kind, asked counts, and the log."""
        done = Counter(e["kind"] for e in self.log)
        return {"asked": {k: int(self.counts.get(k, 0)) for k in DISRUPTIONS},
                "delivered": {k: done.get(k, 0) for k in DISRUPTIONS}, "log": self.log}
