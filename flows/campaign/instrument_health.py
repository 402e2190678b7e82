"""Which instruments answer, and when to try again one that does not.

An instrument whose port cannot be opened, or that stops answering (time-outs and dropped links
after the per-command retries of :mod:`flows.campaign.instrument_calls`), is *down*: its steps
wait (nothing is dispatched to it, its jobs are not polled) and it is tried again after a back-off
on the wall clock of 5, 10, 20... up to 300 s. The first failure and the recovery are each
reported once (:meth:`InstrumentHealth.failed` and :meth:`InstrumentHealth.answered` return the
line to log), not every tick. One :class:`InstrumentHealth` is shared by every campaign of a
worker, since they share the instruments.

Example:
    >>> from instruments.errors import PortUnavailable
    >>> health = InstrumentHealth()
    >>> health.failed("furnace-1", PortUnavailable("/dev/ttyUSB9: no such device"), now_s=0.0)
    'furnace-1 cannot be reached (/dev/ttyUSB9: no such device); its steps wait; next try in 5 s'
    >>> health.usable("furnace-1", now_s=1.0), health.usable("furnace-1", now_s=6.0)
    (False, True)
    >>> health.answered("furnace-1")
    'furnace-1 answers again after 1 failed attempt(s)'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from instruments.errors import InstrumentConnectionError, InstrumentError, InstrumentTimeout

__all__ = ["BACKOFF_S", "UNREACHABLE", "InstrumentHealth"]

#: Wall-clock seconds before the next try after 1, 2, 3... failures in a row (the last repeats).
BACKOFF_S = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
#: Errors that mean the instrument cannot be reached (as opposed to a refusal of one command).
UNREACHABLE = (InstrumentConnectionError, InstrumentTimeout)


@dataclass
class _Down:
    failures: int
    retry_at_s: float
    reason: str


@dataclass
class InstrumentHealth:
    """Back-off state per instrument name (monotonic seconds)."""

    _down: dict[str, _Down] = field(default_factory=dict)

    def usable(self, name: str, now_s: float | None = None) -> bool:
        """Whether ``name`` may be tried now (never failed, or its back-off has passed)."""
        down = self._down.get(name)
        return down is None or (time.monotonic() if now_s is None else now_s) >= down.retry_at_s

    def failed(self, name: str, exc: InstrumentError, now_s: float | None = None) -> str | None:
        """Record that ``name`` could not be reached; the line to report the first time, else ``None``."""
        now = time.monotonic() if now_s is None else now_s
        down = self._down.get(name)
        failures = 1 if down is None else down.failures + 1
        delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
        reason = " ".join(str(exc).split())
        self._down[name] = _Down(failures, now + delay, reason)
        if down is None:
            return f"{name} cannot be reached ({reason}); its steps wait; next try in {delay:.0f} s"
        return None

    def answered(self, name: str) -> str | None:
        """Record that ``name`` answered; the line to report when it had been down, else ``None``."""
        down = self._down.pop(name, None)
        return None if down is None else f"{name} answers again after {down.failures} failed attempt(s)"

    def down(self) -> dict[str, str]:
        """Instruments now down, with the last reason."""
        return {name: d.reason for name, d in self._down.items()}
