"""The moving parts of ``lab bench crash``: one run's state, its workers, and what a kill interrupted.

:class:`CrashRun` holds the served lab, the store and the campaigns, starts workers (each under its
own name), tells which campaigns a worker process holds (it took its name in the store, and a
campaign claimed under that name was stamped after it did: :meth:`CrashRun.holding`, which is how
the start-up, spawn to claim, is measured), and logs each worker's end with the ledger's state
counts and :func:`kill_phase`'s tags. Reads of the ledger are retried through a dropped connection
or a restarting database (:meth:`CrashRun.read`), since the bench drops them on purpose.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

import db
from flows.bench.crash_procs import WorkerProcess
from flows.bench.ledger_check import (
    MEASUREMENT_OF,
    DeviceRecord,
    LedgerSnapshot,
    read_devices,
    read_ledger,
)
from lab.spec import CampaignSpec

__all__ = ["FIRST_STARTUP_GUESS_S", "CrashRun", "kill_phase"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Start-up assumed before the first worker has been measured (real seconds).
FIRST_STARTUP_GUESS_S = 8.0
#: How long the bench keeps retrying a ledger read through a database outage (real seconds).
READ_RETRY_S = 60.0


def kill_phase(ledger: LedgerSnapshot, devices: dict[str, DeviceRecord], claimed: bool,
               campaigns: set[int] | None = None) -> list[str]:
    """What the killed worker was doing, as the ledger and the devices tell just after the kill.

    Args:
        ledger, devices: snapshots read just after the kill.
        claimed: whether the worker held a campaign (``False``: ``startup``).
        campaigns: the campaigns it held (default: every campaign of the snapshot).
    """
    if not claimed:
        return ["startup"]
    tags: set[str] = set()
    for exp in ledger.experiments:
        if campaigns is not None and exp.campaign_id not in campaigns:
            continue
        steps, names = ledger.steps.get(exp.id, []), set(ledger.measurements.get(exp.id, []))
        for st in steps:
            dev = devices.get(st.instrument or "")
            job = None if dev is None else dev.jobs.get(st.idempotency_key)
            if st.state == "intent":
                tags.add(f"dispatch {st.name}: " + ("intent, not sent" if job is None else "sent, not acked"))
            elif st.state == "acked" and MEASUREMENT_OF.get(st.instrument_kind) in names:
                tags.add(f"ingest {st.name}: stored, not done")
            elif st.state == "acked" and job in ("done", "unloaded", "aborted"):
                tags.add(f"ingest {st.name}: results waiting")
        if exp.state.value == "running" and steps and all(st.state == "done" for st in steps) \
                and exp.id not in ledger.analysed:
            tags.add("analysis pending")
    return sorted(tags) or ["engine: waiting"]


class CrashRun:
    """One bench run: the served lab, the store, the campaigns queued, the log of every worker.

    Args:
        store: the open ledger.
        lab: the served simulated lab (``devices`` and ``clock`` are read).
        spec_text, spec: the campaign queued (as TOML, and parsed).
        out: the bench's folder (``LAB_HOME`` of the workers; their logs go to ``out/workers``).
        lab_file: the served lab's lab file.
        api_url: the Prefect API of the workers.
        say: called with one line per worker (progress).
        lease_s: the workers' lease (``--lease-s``, wall-clock seconds).
        max_campaigns: the workers' ``--max-campaigns``.
    """

    def __init__(self, store: db.Store, lab: Any, spec_text: str, spec: CampaignSpec, out: Path,
                 lab_file: Path, api_url: str, say: Callable[[str], None], lease_s: float = 120.0,
                 max_campaigns: int = 4) -> None:
        self.store, self.lab, self.text, self.spec = store, lab, spec_text, spec
        self.out, self.lab_file, self.api_url, self.say = out, lab_file, api_url, say
        self.lease_s, self.max_campaigns = lease_s, max_campaigns
        self.campaigns: list[int] = []
        self.log: list[dict[str, Any]] = []
        self.startups: list[float] = []
        self.spawned = 0
        (out / "workers").mkdir(exist_ok=True)

    def retry(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried for up to :data:`READ_RETRY_S` seconds while the database is unreachable."""
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            try:
                return fn()
            except db.DatabaseUnreachable as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("the bench's ledger read failed (%s); retrying", exc)
                time.sleep(0.5)

    def read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one session, retried through a database outage (:meth:`retry`)."""
        def once() -> T:
            with self.store.session() as s:
                return fn(s)
        return self.retry(once)

    def snapshot(self) -> LedgerSnapshot:
        """The ledger of every campaign of the run (:func:`~flows.bench.ledger_check.read_ledger`, retried)."""
        return self.retry(lambda: read_ledger(self.store, self.campaigns))

    def queue(self) -> None:
        """Queue one more campaign of the spec."""
        def create(s: Session) -> int:
            return db.create_campaign(s, name=self.spec.name, spec_toml=self.text, spec=self.spec.to_store_dict(),
                                      seed=self.spec.seed, reward=self.spec.reward_definition(),
                                      approval_required=self.spec.approval_required, at=self.lab.clock.now())
        self.campaigns.append(self.read(create))

    def statuses(self) -> list[str]:
        """Status of every campaign queued, in order."""
        return self.read(lambda s: [db.get_campaign(s, cid).status for cid in self.campaigns])

    def active(self) -> int:
        """Campaigns queued or running."""
        return sum(status in ("queued", "running") for status in self.statuses())

    def holding(self, worker: WorkerProcess) -> set[int]:
        """The running campaigns ``worker`` holds: it took its name, and claimed them (or took them back) since."""
        def held(s: Session) -> set[int]:
            me = db.get_worker(s, worker.worker_id)
            if me is None or me.pid != worker.proc.pid:
                return set()
            infos = [db.get_campaign(s, cid) for cid in self.campaigns]
            return {c.id for c in infos if c.status == "running" and c.claimed_by == worker.worker_id
                    and c.heartbeat_at is not None and c.heartbeat_at >= me.started_at}
        return self.read(held)

    def registered(self, worker: WorkerProcess) -> bool:
        """Whether ``worker`` took its name in the store (it got through imports and opened the store)."""
        me = self.read(lambda s: db.get_worker(s, worker.worker_id))
        return me is not None and me.pid == worker.proc.pid

    def senders(self) -> dict[str, str | None]:
        """Idempotency key -> the worker name that sent its latest intent."""
        intents = self.read(lambda s: db.list_intents(s, self.campaigns))
        return {i.idempotency_key: i.worker for i in intents}

    def spawn(self, name: str, once: bool = False) -> WorkerProcess:
        """Start the next worker process under ``name``."""
        self.spawned += 1
        path = self.out / "workers" / f"{self.spawned:03d}-{name}.log"
        return WorkerProcess(self.lab_file, self.store.url, self.out, self.api_url, path, name=name, once=once,
                             max_campaigns=self.max_campaigns, lease_s=self.lease_s)

    def window_s(self, engine_window_s: float) -> float:
        """Real seconds over which the next kill moment is drawn: median start-up plus ``engine_window_s``."""
        startup = statistics.median(self.startups) if self.startups else FIRST_STARTUP_GUESS_S
        return startup + engine_window_s

    def record(self, event: str, worker: WorkerProcess, at_s: float, startup: float | None, **extra: Any) -> dict[str, Any]:
        """Log a worker's end (``kill``, ``exit``, ``final``) with the ledger's state counts and the phase tags."""
        ledger, devices = self.snapshot(), read_devices(self.lab.devices)
        held = self.holding(worker) if event == "kill" else set()
        claimed = startup is not None or bool(held)
        phase = [event]
        if event == "kill":
            phase = kill_phase(ledger, devices, claimed, held or None) if claimed else \
                ["idle" if self.registered(worker) else "startup"]
        entry = {"n": len(self.log) + 1, "event": event, "worker": worker.worker_id, "pid": worker.proc.pid,
                 "at_s": round(at_s, 2), "startup_s": None if startup is None else round(startup, 2),
                 "phase": phase,
                 "sim_time": f"{self.lab.clock.now():%Y-%m-%d %H:%M}",
                 "experiments": dict(Counter(e.state.value for e in ledger.experiments)),
                 "steps": dict(Counter(st.state for group in ledger.steps.values() for st in group)),
                 "log": str(worker.log_path), **extra}
        self.log.append(entry)
        return entry
