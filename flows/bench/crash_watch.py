"""Watch one worker of ``lab bench crash`` until its kill moment, or until an armed event fires first.

A kill may be armed on an event (:data:`TRIGGERS`) so that it lands inside the short dispatch and
ingestion windows, which a uniformly drawn moment almost never hits (measured: none of 20 uniform
kills did). With several workers, an event counts for a worker only when that worker caused it:
the step's latest intent was sent under its name (:meth:`flows.bench.crash_run.CrashRun.senders`).
A :class:`Watcher` never blocks: the bench calls :meth:`Watcher.poll` for every worker in turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import db
from flows.bench.crash_procs import WorkerProcess
from flows.bench.crash_run import CrashRun

__all__ = ["TRIGGERS", "Watch", "Watcher"]

#: What a kill waits for: its drawn moment only, or the first of these events before it:
#: ``intent`` (the ledger holds an intent its instrument has not received: dispatch, before the
#: send), ``device_start`` (an instrument just started a job: dispatch, before the ack is
#: committed), ``unload`` (a furnace just gave its sample back: ingestion, after the measurement
#: was stored and before the step is marked done).
TRIGGERS = ("moment", "intent", "device_start", "unload")
#: Real seconds between looks at whether the worker holds a campaign yet (its start-up).
CLAIM_LOOK_S = 0.25
#: Real seconds between looks for an unsent intent (a ledger query).
INTENT_LOOK_S = 0.03


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


class Watcher:
    """Watches ``worker`` until ``moment_s`` real seconds after its spawn, or ``trigger`` (:data:`TRIGGERS`).

    Args:
        run: the bench run (ledger and lab).
        worker: the process watched.
        moment_s: its kill moment (real seconds since its spawn); ``inf``: never (a final worker).
        trigger: the event armed, or ``"moment"``.
        attribute: count only events this worker caused (several workers share the lab).
    """

    def __init__(self, run: CrashRun, worker: WorkerProcess, moment_s: float, trigger: str = "moment",
                 attribute: bool = False) -> None:
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger {trigger!r}: expected one of {', '.join(TRIGGERS)}")
        self.run, self.worker, self.moment_s, self.trigger, self.attribute = run, worker, moment_s, trigger, attribute
        self.startup_s: float | None = None
        self.held: set[int] = set()
        self._started, self._unloaded = self._device_keys()
        self._next_claim_look = self._next_intent_look = 0.0

    @property
    def armed(self) -> bool:
        """Whether an event is armed (the bench then looks every few milliseconds)."""
        return self.trigger != "moment"

    def poll(self) -> Watch | None:
        """Look once: a :class:`Watch` when watching is over (kill now, or it exited), else None."""
        now = self.worker.elapsed_s
        rc = self.worker.poll()
        if rc is not None:
            return Watch(rc, self.startup_s, now, False)
        if now >= self.moment_s:
            return Watch(None, self.startup_s, now, False)
        if now >= self._next_claim_look:
            self._next_claim_look = now + CLAIM_LOOK_S
            self.held = self.run.holding(self.worker)
            if self.startup_s is None and self.held:
                self.startup_s = now
                self.run.startups.append(now)
        if self._fired(now):
            return Watch(None, self.startup_s, self.worker.elapsed_s, True)
        return None

    def _fired(self, now: float) -> bool:
        if self.trigger in ("device_start", "unload"):
            started, unloaded = self._device_keys()
            new = {key for _, key, _ in started - self._started} if self.trigger == "device_start" \
                else unloaded - self._unloaded
            self._started, self._unloaded = started, unloaded
            return bool(new) and self._mine(new)
        if self.trigger == "intent" and self.startup_s is not None and now >= self._next_intent_look:
            self._next_intent_look = now + INTENT_LOOK_S
            return self._unsent_intent()
        return False

    def _mine(self, keys: set[str]) -> bool:
        if not self.attribute:
            return True
        senders = self.run.senders()
        return any(senders.get(key) == self.worker.worker_id for key in keys)

    def _device_keys(self) -> tuple[set[tuple[str, str, int]], set[str]]:
        """((instrument, key, job id) of every job held, keys of the furnace jobs unloaded) over every instrument."""
        started: set[tuple[str, str, int]] = set()
        unloaded: set[str] = set()
        for name, dev in list(self.run.lab.devices.items()):
            for key, job in list(getattr(dev, "jobs", {}).items()):
                started.add((name, key, id(job)))  # a job started again after a power cut is a new start
                if getattr(job, "unloaded", False):
                    unloaded.add(key)
        return started, unloaded

    def _unsent_intent(self) -> bool:
        """Whether the ledger holds an intent of this worker's campaigns that its instrument has not received."""
        campaigns = self.held if self.attribute else set(self.run.campaigns)
        steps = self.run.read(lambda s: [st for cid in campaigns for st in db.open_steps(s, cid) if st.state == "intent"])
        devices = self.run.lab.devices
        return any(st.idempotency_key not in getattr(devices.get(st.instrument), "jobs", {}) for st in steps)
