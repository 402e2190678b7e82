"""Job bookkeeping shared by the furnace, dosing and diffractometer simulators.

A job's progress is computed from the clock, never stored: ``elapsed = now - started``, frozen
at the abort time for an aborted job and at half its duration for a stuck one. The device-side
rules of :mod:`instruments.base` live here: ``<P>:RUN`` of a key the device holds replies ``OK``
and starts nothing (``starts`` counts real starts), ``ERR 201`` while another job is held,
``ERR 204`` for a key that already ran; ``<P>:STAT?``, ``<P>:JOB?`` and ``<P>:ABOR``. A restart
(:meth:`JobDevice.power_cycle`) cuts the running job and keeps the finished ones.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lab.clock import Clock
from simulators.device import DeviceRefusal, Handler, LineDevice, want_args
from simulators.faults import FaultInjector, FaultPlan

__all__ = ["Job", "JobDevice"]

#: How many finished jobs a device remembers (for ``<P>:JOB?`` and idempotent repeats).
HISTORY = 10000


@dataclass
class Job:
    """One job run by a simulated device.

    Attributes:
        key: the idempotency key.
        sample_id: the sample the job concerns.
        started: when it started.
        duration_s: how long it runs to the end (seconds).
        params: the staged setpoints it runs with.
        stuck_at_s: elapsed time at which it froze (seconds), if stuck.
        stopped_at_s: elapsed time at which it was aborted (seconds), if aborted.
        finished: True once the device noticed the end and recorded its outcome.
        unloaded: True once its sample was taken out (furnace).
        result: the job's outcome (dosed masses, pattern...), once finished.
    """

    key: str
    sample_id: str
    started: datetime
    duration_s: float
    params: dict[str, Any] = field(default_factory=dict)
    stuck_at_s: float | None = None
    stopped_at_s: float | None = None
    finished: bool = False
    unloaded: bool = False
    result: Any = None

    def elapsed_s(self, now: datetime) -> float:
        """Program time run so far (seconds), frozen when stuck or aborted."""
        elapsed = max((now - self.started).total_seconds(), 0.0)
        for cap in (self.stuck_at_s, self.stopped_at_s):
            if cap is not None:
                elapsed = min(elapsed, cap)
        return elapsed

    def seconds_left(self, now: datetime) -> float:
        """Time to the end (seconds); constant while stuck, 0 when done or aborted."""
        if self.stopped_at_s is not None:
            return 0.0
        return max(self.duration_s - self.elapsed_s(now), 0.0)

    def complete(self, now: datetime) -> bool:
        """True once the job ran to its end (never for aborted or stuck jobs)."""
        return self.stopped_at_s is None and self.elapsed_s(now) >= self.duration_s


class JobDevice(LineDevice):
    """A :class:`LineDevice` that runs one job at a time, identified by an idempotency key.

    Subclasses set :attr:`prefix`, stage setpoints with their own commands and implement
    :meth:`new_job`, :meth:`running_phase`, :meth:`extras` and :meth:`on_finish`.
    """

    prefix = ""
    #: True when a done or aborted job blocks the next one until it is unloaded (furnace).
    holds_after_done = False
    #: Attributes holding staged setpoints, which a restart resets to their values at power-on.
    volatile: tuple[str, ...] = ()

    def __init__(self, name: str, clock: Clock, faults: FaultPlan | FaultInjector | None = None) -> None:
        self.current: Job | None = None
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.starts = 0
        #: Jobs a restart cut (they are no longer held; kept here for audits only).
        self.cut: list[Job] = []
        super().__init__(name, clock, faults)
        self._power_on = {attr: copy.deepcopy(getattr(self, attr)) for attr in self.volatile}

    def power_cycle(self, at: datetime) -> str | None:
        """Restart as of ``at``, as a controller that keeps its job log in non-volatile memory.

        Kept: every finished job (record, phase, results; a job that had run to its end by ``at``
        is finished now) and so the furnace's sample of a finished program. Lost: the job still
        running at ``at`` (the device no longer knows its key: ``JOB?`` replies ``unknown``), the
        staged setpoints (:attr:`volatile`) and the error queue.

        Returns:
            The key of the job cut, if any.
        """
        with self._lock:
            super().power_cycle(at)
            self.reset()
            job = self.current
            if job is None or job.finished or job.unloaded or job.stopped_at_s is not None:
                return None
            if job.complete(at):
                job.finished = True
                self.on_finish(job)
                return None
            self.current = None
            del self.jobs[job.key]
            self.cut.append(job)
            return job.key

    def reset(self) -> None:
        """``*RST``: the staged setpoints (:attr:`volatile`) back to their power-on values; jobs run on."""
        with self._lock:
            for attr, value in self._power_on.items():
                setattr(self, attr, copy.deepcopy(value))

    def handlers(self) -> dict[str, Handler]:
        p = self.prefix
        return {f"{p}:RUN": self._run, f"{p}:STAT?": self._stat, f"{p}:JOB?": self._job, f"{p}:ABOR": self._abort}

    def new_job(self, key: str, sample_id: str) -> Job:
        """A job from the staged setpoints (refuse with ``DeviceRefusal`` if some are missing)."""
        raise NotImplementedError

    def running_phase(self, job: Job, elapsed_s: float) -> str:
        """The phase of a job that is neither done nor aborted."""
        raise NotImplementedError

    def extras(self, job: Job | None) -> list[str]:
        """The extra status fields for ``job`` (None: the idle values)."""
        return []

    def on_finish(self, job: Job) -> None:
        """Record the outcome of a job that just ran to its end."""

    def tick(self) -> None:
        """Finish the current job once its time is up (called before every command)."""
        with self._lock:
            job, now = self.current, self.clock.now()
            if job is not None and not job.finished and job.complete(now):
                job.finished = True
                self.on_finish(job)

    def phase(self, job: Job) -> str:
        """The device phase of ``job`` now."""
        now = self.clock.now()
        if job.unloaded:
            return "unloaded"
        if job.stopped_at_s is not None:
            return "aborted"
        if job.complete(now):
            return "done"
        return self.running_phase(job, job.elapsed_s(now))

    def status_line(self, job: Job | None, key: str = "") -> str:
        """``<phase>,"<key>","<sample>",<seconds_left>[,extras]`` for ``job`` (None: idle/unknown)."""
        if job is None:
            fields = ["unknown" if key else "idle", f'"{key}"', '""', "0", *self.extras(None)]
        else:
            left = job.seconds_left(self.clock.now())
            fields = [self.phase(job), f'"{job.key}"', f'"{job.sample_id}"', f"{left:.1f}", *self.extras(job)]
        return ",".join(fields)

    def job_of(self, key: str) -> Job:
        """The job with ``key``; refuse with ``ERR 202`` if unknown."""
        if key not in self.jobs:
            raise DeviceRefusal(202, f"Unknown job {key}")
        return self.jobs[key]

    def _run(self, args: list[str]) -> str:
        key, sample = want_args(args, 2, f'{self.prefix}:RUN "<key>","<sample>"')
        if not key or not sample:
            raise DeviceRefusal(-224, "Illegal parameter value: empty job key or sample id")
        current = self.current
        if current is not None and current.key == key:
            return "OK"
        if key in self.jobs:
            raise DeviceRefusal(204, f"Job {key} already ran ({self.phase(self.jobs[key])})")
        if current is not None and self._blocks(current):
            raise DeviceRefusal(201, f"Busy: holds job {current.key} ({self.phase(current)})")
        job = self.new_job(key, sample)
        if self.faults.next_job_stuck(at=self.clock.now(), line=f"{self.prefix}:RUN", key=key):
            job.stuck_at_s = 0.5 * job.duration_s
        self.current = job
        self.jobs[key] = job
        while len(self.jobs) > HISTORY:
            self.jobs.popitem(last=False)
        self.starts += 1
        return "OK"

    def _blocks(self, job: Job) -> bool:
        phase = self.phase(job)
        if phase in ("done", "aborted"):
            return self.holds_after_done
        return phase != "unloaded"

    def _stat(self, args: list[str]) -> str:
        return self.status_line(self.current)

    def _job(self, args: list[str]) -> str:
        (key,) = want_args(args, 1, f'{self.prefix}:JOB? "<key>"')
        job = self.jobs.get(key)
        return self.status_line(job, key)

    def _abort(self, args: list[str]) -> str:
        job = self.current
        if job is not None and self.phase(job) not in ("done", "aborted", "unloaded"):
            job.stopped_at_s = job.elapsed_s(self.clock.now())
        return "OK"
