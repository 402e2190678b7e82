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
================  =================================================================================

Reply faults (all but ``stuck``) are drawn once per command line, in this order of precedence:
forced faults (:meth:`FaultInjector.force`), then the plan's ``schedule`` (1-based command
numbers), then the probabilities. ``stuck`` is drawn once per job start. The resynchronisation
query ``SYST:SYNC?`` is never faulted and not counted, so a forced fault always hits the
driver's own command.

Example:
    >>> injector = FaultInjector(FaultPlan(garbled=0.1, seed=7))
    >>> injector.force("no_reply", on="PROG:RUN")
    >>> injector.next_reply_fault("PROG:STAT?"), injector.next_reply_fault("PROG:RUN")
    (None, 'no_reply')
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["FAULT_KINDS", "REPLY_FAULTS", "FaultInjector", "FaultPlan"]

#: Faults that act on one command's reply.
REPLY_FAULTS = ("no_reply", "late_reply", "garbled", "drop", "device_error")
#: Every fault kind.
FAULT_KINDS = (*REPLY_FAULTS, "stuck")


def _check_kind(kind: str) -> str:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    return kind


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
        self._forced: deque[tuple[str, str | None]] = deque()
        self._forced_stuck = 0
        self._scheduled = dict(self.plan.schedule)
        self._lock = threading.Lock()
        self.commands = 0
        #: ``(command number, kind)`` of every fault injected so far.
        self.history: list[tuple[int, str]] = []

    def force(self, kind: str, times: int = 1, on: str | None = None) -> None:
        """Inject ``kind`` on the next ``times`` commands (or job starts, for ``stuck``).

        Args:
            kind: one of :data:`FAULT_KINDS`.
            times: how many commands (job starts) it hits.
            on: only commands with this header (e.g. ``"PROG:RUN"``); any command when None.
        """
        _check_kind(kind)
        if times < 1:
            raise ValueError(f"times={times} must be >= 1")
        with self._lock:
            if kind == "stuck":
                self._forced_stuck += times
            else:
                self._forced.extend([(kind, on.upper() if on else None)] * times)

    def clear(self) -> None:
        """Forget forced faults that have not fired yet."""
        with self._lock:
            self._forced.clear()
            self._forced_stuck = 0

    def next_reply_fault(self, header: str = "") -> str | None:
        """The reply fault for the next command, or None (counts the command).

        Args:
            header: the command's header (matched against ``force(..., on=...)``).
        """
        with self._lock:
            self.commands += 1
            kind = self._draw_reply_fault(header.upper())
            if kind is not None:
                self.history.append((self.commands, kind))
            return kind

    def next_job_stuck(self) -> bool:
        """Whether the job starting now gets stuck."""
        with self._lock:
            if self._forced_stuck:
                self._forced_stuck -= 1
                stuck = True
            elif self._scheduled.get(self.commands) == "stuck":
                stuck = True
            else:
                stuck = self.plan.stuck > 0 and self._rng.random() < self.plan.stuck
            if stuck:
                self.history.append((self.commands, "stuck"))
            return stuck

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
