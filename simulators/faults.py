"""Seeded, configurable fault injection for the device simulators.

Fault kinds:

================  =================================================================================
``no_reply``      the command is carried out but no reply is sent (the driver times out)
``late_reply``    the command is carried out and the reply is sent ``late_s`` real seconds later
                  (set ``late_s`` above the driver's timeout)
``garbled``       the command is carried out but its reply is replaced by non-ASCII noise
``drop``          the command is carried out, then the connection drops without a reply
                  (a pseudo-terminal is hung up and replaced, a socket is closed)
``device_error``  the command is *not* carried out; the device replies
                  ``ERR <error_code>,"<error_message>"`` (a hardware fault, by default 500)
``stuck``         the next job to start never advances past half way (its phase and
                  ``seconds_left`` freeze until aborted)
``restart``       the device is power-cycled and its server restarted: the line that finds the restart
                  due is lost and the connection drops; the device forgets what a real controller
                  holds in RAM (the job running at the restart, staged setpoints, the error queue) and
                  keeps what it holds in non-volatile memory (finished jobs, their results, its
                  clock); see :meth:`simulators.jobs.JobDevice.power_cycle`
================  =================================================================================

Reply faults (all but ``stuck``) are drawn once per command line, in this order of precedence:
forced faults (:meth:`FaultInjector.force`), then the plan's ``schedule`` (1-based command
numbers), then the probabilities. ``stuck`` is drawn once per job start. ``restart`` comes at
exponentially distributed intervals of the device's clock (``restarts_per_h`` per simulated hour,
a Poisson process), forced or scheduled, and takes effect on the first command line at or after
its moment (before that line's reply fault is drawn). The resynchronisation query ``SYST:SYNC?``
is never faulted and not counted, so a forced fault always hits the driver's own command.

Every fault injected is counted (:attr:`FaultInjector.counts`) and logged with its context
(:attr:`FaultInjector.events`: the simulated time, the line and the job key it concerns).

Example:
    >>> injector = FaultInjector(FaultPlan(garbled=0.1, seed=7))
    >>> injector.force("no_reply", on="PROG:RUN")
    >>> injector.next_reply_fault("PROG:STAT?"), injector.next_reply_fault("PROG:RUN")
    (None, 'no_reply')
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["ALL_KINDS", "FAULT_KINDS", "REPLY_FAULTS", "RESTART", "FaultEvent", "FaultInjector", "FaultPlan"]

#: Faults that act on one command's reply.
REPLY_FAULTS = ("no_reply", "late_reply", "garbled", "drop", "device_error")
#: Every fault kind drawn with a probability (per command line, or per job start for ``stuck``).
FAULT_KINDS = (*REPLY_FAULTS, "stuck")
#: The device restart (a rate per simulated hour, not a probability).
RESTART = "restart"
#: Every kind, restarts included.
ALL_KINDS = (*FAULT_KINDS, RESTART)


def _check_kind(kind: str) -> str:
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    return kind


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault, with what it hit.

    Attributes:
        kind: one of :data:`ALL_KINDS`.
        command: 1-based number of the command line it hit (for ``stuck``: the ``RUN`` line).
        at: the device's time when it was injected (for ``restart``: the moment of the restart).
        line: the command line it hit ("" when the caller gave none).
        key: the job key it concerns: the line's first quoted argument, else the last key the
            device saw; for a restart that cut a job, that job's (None when unknown).
        cut: for a restart, whether it cut a running job (the device forgot it).
    """

    kind: str
    command: int
    at: datetime | None = None
    line: str = ""
    key: str | None = None
    cut: bool = False


@dataclass(frozen=True)
class FaultPlan:
    """What faults a simulator injects, and how often.

    Attributes:
        no_reply: probability per command of no reply.
        late_reply: probability per command of a late reply.
        garbled: probability per command of a garbled reply.
        drop: probability per command of a dropped connection.
        device_error: probability per command of a device error reply.
        stuck: probability per job start that the job gets stuck.
        restarts_per_h: rate of device restarts (per simulated hour, a Poisson process).
        late_s: delay of a late reply (real seconds).
        error_code: code of injected device errors.
        error_message: message of injected device errors.
        schedule: ``(command number, kind)`` pairs: one-shot faults at 1-based command counts.
        seed: seed of the injector's random generator.
    """

    no_reply: float = 0.0
    late_reply: float = 0.0
    garbled: float = 0.0
    drop: float = 0.0
    device_error: float = 0.0
    stuck: float = 0.0
    restarts_per_h: float = 0.0
    late_s: float = 0.5
    error_code: int = 500
    error_message: str = "Hardware fault: heater circuit open"
    schedule: tuple[tuple[int, str], ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            p = getattr(self, kind)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FaultPlan.{kind}={p} is a probability; expected 0..1")
        total = sum(getattr(self, kind) for kind in REPLY_FAULTS)
        if total > 1.0:
            raise ValueError(f"the reply-fault probabilities add up to {total}; expected at most 1")
        if not math.isfinite(self.restarts_per_h) or self.restarts_per_h < 0:
            raise ValueError(f"FaultPlan.restarts_per_h={self.restarts_per_h} must be >= 0 restarts per hour")
        if self.late_s < 0:
            raise ValueError(f"FaultPlan.late_s={self.late_s} must be >= 0 seconds")
        for number, kind in self.schedule:
            _check_kind(kind)
            if number < 1:
                raise ValueError(f"scheduled fault {kind!r} at command {number}: command numbers start at 1")


class FaultInjector:
    """Draws the faults of one simulator from its :class:`FaultPlan` (thread-safe).

    Args:
        plan: what to inject; no faults by default.
    """

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)
        self._restart_rng = random.Random(f"{self.plan.seed}:restart")  # restarts leave the other draws as they were
        self._forced: deque[tuple[str, str | None]] = deque()
        self._forced_stuck = 0
        self._forced_restart = 0
        self._next_restart: datetime | None = None
        self._scheduled = dict(self.plan.schedule)
        self._lock = threading.Lock()
        self.commands = 0
        #: ``(command number, kind)`` of every fault injected so far.
        self.history: list[tuple[int, str]] = []
        #: Every fault injected so far, with its context.
        self.events: list[FaultEvent] = []

    @property
    def counts(self) -> dict[str, int]:
        """Faults injected so far, by kind (every kind of :data:`ALL_KINDS`, zeros included)."""
        with self._lock:
            seen = Counter(kind for _, kind in self.history)
        return {kind: seen.get(kind, 0) for kind in ALL_KINDS}

    def force(self, kind: str, times: int = 1, on: str | None = None) -> None:
        """Inject ``kind`` on the next ``times`` commands (or job starts, for ``stuck``).

        Args:
            kind: one of :data:`ALL_KINDS` (a forced ``restart`` comes with the next command line).
            times: how many commands (job starts) it hits.
            on: only commands with this header (e.g. ``"PROG:RUN"``); any command when None.
        """
        _check_kind(kind)
        if times < 1:
            raise ValueError(f"times={times} must be >= 1")
        with self._lock:
            if kind == "stuck":
                self._forced_stuck += times
            elif kind == RESTART:
                self._forced_restart += times
            else:
                self._forced.extend([(kind, on.upper() if on else None)] * times)

    def clear(self) -> None:
        """Forget forced faults that have not fired yet."""
        with self._lock:
            self._forced.clear()
            self._forced_stuck = 0
            self._forced_restart = 0

    def next_reply_fault(self, header: str = "", *, line: str = "", at: datetime | None = None,
                         key: str | None = None) -> str | None:
        """The reply fault for the next command, or None (counts the command).

        Args:
            header: the command's header (matched against ``force(..., on=...)``).
            line: the whole command line (logged with the fault).
            at: the device's time (logged with the fault).
            key: the job key the line concerns (logged with the fault).
        """
        with self._lock:
            self.commands += 1
            kind = self._draw_reply_fault(header.upper())
            if kind is not None:
                self._record(kind, at, line, key)
            return kind

    def next_job_stuck(self, *, at: datetime | None = None, line: str = "", key: str | None = None) -> bool:
        """Whether the job starting now gets stuck (the arguments are logged with the fault)."""
        with self._lock:
            if self._forced_stuck:
                self._forced_stuck -= 1
                stuck = True
            elif self._scheduled.get(self.commands) == "stuck":
                stuck = True
            else:
                stuck = self.plan.stuck > 0 and self._rng.random() < self.plan.stuck
            if stuck:
                self._record("stuck", at, line, key)
            return stuck

    def restart_due(self, now: datetime) -> datetime | None:
        """The moment of a restart due at ``now`` (the device's time), or None; counts the command if so.

        A due restart swallows the command line, so it counts as a command (``schedule`` numbers
        it as such) and the line gets no reply fault. The caller records it with
        :meth:`record_restart` once it knows which job it cut.
        """
        with self._lock:
            moment: datetime | None = None
            if self._forced_restart:
                self._forced_restart -= 1
                moment = now
            elif self._scheduled.get(self.commands + 1) == RESTART:
                moment = now
            elif self.plan.restarts_per_h > 0:
                if self._next_restart is None:
                    self._next_restart = now + self._restart_gap()
                if now >= self._next_restart:
                    moment, self._next_restart = self._next_restart, now + self._restart_gap()
            if moment is not None:
                self.commands += 1
            return moment

    def record_restart(self, at: datetime, line: str = "", key: str | None = None, cut: bool = False) -> None:
        """Log the restart :meth:`restart_due` announced (``cut``: whether it cut the job ``key``)."""
        with self._lock:
            self._record(RESTART, at, line, key, cut)

    def _restart_gap(self) -> timedelta:
        return timedelta(hours=self._restart_rng.expovariate(self.plan.restarts_per_h))

    def _record(self, kind: str, at: datetime | None, line: str, key: str | None, cut: bool = False) -> None:
        self.history.append((self.commands, kind))
        self.events.append(FaultEvent(kind, self.commands, at, line, key, cut))

    def _draw_reply_fault(self, header: str) -> str | None:
        for i, (kind, on) in enumerate(self._forced):
            if on is None or on == header:
                del self._forced[i]
                return kind
        scheduled = self._scheduled.get(self.commands)
        if scheduled in REPLY_FAULTS:
            return scheduled
        u = self._rng.random()
        for kind in REPLY_FAULTS:
            p = getattr(self.plan, kind)
            if u < p:
                return kind
            u -= p
        return None
