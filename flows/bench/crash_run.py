"""The moving parts of ``lab bench crash``: one run's state and what a kill interrupted.

:class:`CrashRun` holds the served lab, the store and the campaigns, starts workers, watches them
until their kill moment (noting the start-up: spawn to campaign claim) and logs each kill with the
ledger's state counts and :func:`kill_phase`'s tags. A kill may be armed on an event (:data:`TRIGGERS`)
so that it lands inside the short dispatch and ingestion windows, which a uniformly drawn moment
almost never hits (measured: none of 20 uniform kills did).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

__all__ = ["FIRST_STARTUP_GUESS_S", "TRIGGERS", "CrashRun", "Watch", "kill_phase"]

#: Start-up assumed before the first worker has been measured (real seconds).
FIRST_STARTUP_GUESS_S = 8.0
#: What a kill waits for: its drawn moment only, or the first of these events before it:
#: ``intent`` (the ledger holds an intent its instrument has not received: dispatch, before the
#: send), ``device_start`` (an instrument just started a job: dispatch, before the ack is
#: committed), ``unload`` (a furnace just gave its sample back: ingestion, after the measurement
#: was stored and before the step is marked done).
TRIGGERS = ("moment", "intent", "device_start", "unload")


@dataclass(frozen=True)
class Watch:
    """How watching a worker ended.

    Attributes:
        rc: its exit status if it ended by itself; None: it still runs and is to be killed.
        startup_s: real seconds from its spawn to its campaign claim (None: it never claimed one).
        at_s: real seconds since its spawn when watching ended.
        fired: whether the armed trigger fired (rather than the drawn moment coming).
    """

    rc: int | None
    startup_s: float | None
    at_s: float
    fired: bool


def kill_phase(ledger: LedgerSnapshot, devices: dict[str, DeviceRecord], claimed: bool) -> list[str]:
    """What the killed worker was doing, as the ledger and the devices tell just after the kill."""
    if not claimed:
        return ["startup"]
    tags: set[str] = set()
    for exp in ledger.experiments:
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
    """

    def __init__(self, store: db.Store, lab: Any, spec_text: str, spec: CampaignSpec, out: Path,
                 lab_file: Path, api_url: str, say: Callable[[str], None]) -> None:
        self.store, self.lab, self.text, self.spec = store, lab, spec_text, spec
        self.out, self.lab_file, self.api_url, self.say = out, lab_file, api_url, say
        self.campaigns: list[int] = []
        self.log: list[dict[str, Any]] = []
        self.startups: list[float] = []
        (out / "workers").mkdir(exist_ok=True)

    def queue(self) -> None:
        """Queue one more campaign of the spec."""
        with self.store.session() as s:
            cid = db.create_campaign(s, name=self.spec.name, spec_toml=self.text, spec=self.spec.to_store_dict(),
                                     seed=self.spec.seed, reward=self.spec.reward_definition(),
                                     approval_required=self.spec.approval_required, at=self.lab.clock.now())
        self.campaigns.append(cid)

    def statuses(self) -> list[str]:
        """Status of every campaign queued, in order."""
        with self.store.session() as s:
            return [db.get_campaign(s, cid).status for cid in self.campaigns]

    def claimed_by(self, worker_id: str) -> bool:
        """Whether ``worker_id`` holds one of the campaigns (it got through its start-up)."""
        with self.store.session() as s:
            return any(db.get_campaign(s, cid).claimed_by == worker_id for cid in self.campaigns)

    def spawn(self) -> WorkerProcess:
        """Start the next worker process."""
        path = self.out / "workers" / f"worker-{len(self.log) + 1:02d}.log"
        return WorkerProcess(self.lab_file, self.store.url, self.out, self.api_url, path)

    def window_s(self, engine_window_s: float) -> float:
        """Real seconds over which the next kill moment is drawn: median start-up plus ``engine_window_s``."""
        startup = statistics.median(self.startups) if self.startups else FIRST_STARTUP_GUESS_S
        return startup + engine_window_s

    def run_until(self, worker: WorkerProcess, moment_s: float, trigger: str = "moment") -> Watch:
        """Let ``worker`` run until ``moment_s``, or until ``trigger`` (see :data:`TRIGGERS`) fires first.

        The device events are read from the simulators in this process (no I/O), every few
        milliseconds; an unsent intent needs a ledger query, made every 30 ms once the worker holds
        the campaign. The caller kills the worker when this returns with ``rc`` None.
        """
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger {trigger!r}: expected one of {', '.join(TRIGGERS)}")
        base = self._device_events()
        startup: float | None = None
        next_claim_look = next_intent_look = 0.0
        while (now := worker.elapsed_s) < moment_s:
            rc = worker.poll()
            if rc is not None:
                return Watch(rc, startup, now, False)
            if startup is None and now >= next_claim_look:
                next_claim_look = now + 0.25
                if self.claimed_by(worker.worker_id):
                    startup = now
                    self.startups.append(now)
            events = self._device_events()
            fired = (trigger == "device_start" and events[0] > base[0]) or (trigger == "unload" and events[1] > base[1])
            if trigger == "intent" and startup is not None and now >= next_intent_look:
                next_intent_look = now + 0.03
                fired = self._unsent_intent()
            if fired:
                return Watch(None, startup, worker.elapsed_s, True)
            time.sleep(min(0.02 if trigger == "moment" else 0.003, max(moment_s - now, 0.0)))
        return Watch(None, startup, worker.elapsed_s, False)

    def _device_events(self) -> tuple[int, int]:
        """(jobs started, furnace jobs unloaded) over every simulated instrument."""
        devices = list(self.lab.devices.values())
        starts = sum(int(getattr(d, "starts", 0)) for d in devices)
        unloaded = sum(1 for d in devices for job in list(getattr(d, "jobs", {}).values()) if getattr(job, "unloaded", False))
        return starts, unloaded

    def _unsent_intent(self) -> bool:
        """Whether the ledger holds an intent that its instrument has not received."""
        with self.store.session() as s:
            steps = [st for cid in self.campaigns for st in db.open_steps(s, cid) if st.state == "intent"]
        return any(st.idempotency_key not in getattr(self.lab.devices.get(st.instrument), "jobs", {}) for st in steps)

    def record(self, event: str, worker: WorkerProcess, at_s: float, startup: float | None, **extra: Any) -> dict[str, Any]:
        """Log a worker's end (``kill``, ``exit``, ``final``) with the ledger's state counts and the phase tags."""
        ledger, devices = read_ledger(self.store, self.campaigns), read_devices(self.lab.devices)
        claimed = startup is not None or self.claimed_by(worker.worker_id)
        entry = {"n": len(self.log) + 1, "event": event, "pid": worker.proc.pid, "at_s": round(at_s, 2),
                 "startup_s": None if startup is None else round(startup, 2),
                 "phase": kill_phase(ledger, devices, claimed) if event == "kill" else [event],
                 "sim_time": f"{self.lab.clock.now():%Y-%m-%d %H:%M}",
                 "experiments": dict(Counter(e.state.value for e in ledger.experiments)),
                 "steps": dict(Counter(st.state for group in ledger.steps.values() for st in group)),
                 "log": str(worker.log_path), **extra}
        self.log.append(entry)
        return entry
