"""Clocks: every component that needs the time takes a :class:`Clock`.

Two implementations share one small protocol:

* :class:`WallClock` is the real time, for a real lab.
* :class:`SimulatedClock` only moves when told to, so a week of 8-hour anneals runs in seconds
  and reproduces exactly. Simulators and tests use it.

Times are timezone-aware UTC :class:`datetime.datetime` objects; durations are seconds (float).

Example:
    >>> from datetime import datetime, timezone
    >>> clock = SimulatedClock(datetime(2026, 1, 1, 22, 0, tzinfo=timezone.utc))
    >>> clock.sleep(3600.0)
    >>> clock.now().hour
    23
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

__all__ = ["Clock", "ScaledClock", "SimulatedClock", "WallClock", "utc"]

#: The default start of a simulated night: 2026-01-05 22:00 UTC.
DEFAULT_SIM_START = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """What components need of time."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of this clock's time pass."""
        ...

    @property
    def simulated(self) -> bool:
        """True when time only moves on request (no real waiting)."""
        ...


class WallClock:
    """The real time. ``sleep`` blocks the calling thread."""

    simulated = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimulatedClock:
    """A clock that moves only when ``sleep``, ``advance`` or ``advance_to`` is called.

    Thread-safe: simulators serving on background threads read it while the engine advances it.

    Args:
        start: the initial time (aware; naive values are taken as UTC).
    """

    simulated = True

    def __init__(self, start: datetime = DEFAULT_SIM_START) -> None:
        self._now = utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once (no real waiting)."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Advance by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds}) needs seconds >= 0")
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)

    def advance_to(self, moment: datetime) -> None:
        """Advance to ``moment``; a moment in the past leaves the clock where it is."""
        moment = utc(moment)
        with self._lock:
            if moment > self._now:
                self._now = moment


class ScaledClock:
    """Accelerated real time, shared by processes: ``now = origin + (wall - wall_origin) * speed``.

    For dry runs of real workers against simulators served in another process (``lab simulate``):
    every process that builds a ScaledClock from the same ``wall_origin``, ``origin`` and
    ``speed`` reads the same time, and ``sleep`` waits ``seconds / speed`` real seconds.

    Args:
        speed: simulated seconds per real second (e.g. 1800: an 8 h anneal takes 16 s).
        origin: the simulated time at ``wall_origin``.
        wall_origin: a POSIX timestamp (seconds) of the real moment ``origin`` corresponds to.

    Example:
        >>> clock = ScaledClock(3600.0, DEFAULT_SIM_START, wall_origin=time.time())
        >>> (clock.now() - DEFAULT_SIM_START).total_seconds() < 3600.0
        True
    """

    simulated = False

    def __init__(self, speed: float, origin: datetime, wall_origin: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0 simulated seconds per real second, got {speed}")
        self.speed = float(speed)
        self.origin = utc(origin)
        self.wall_origin = float(wall_origin)

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.time() - self.wall_origin) * self.speed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def to_dict(self) -> dict[str, float | str]:
        return {"speed": self.speed, "origin": self.origin.isoformat(), "wall_origin": self.wall_origin}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaledClock:
        return cls(float(data["speed"]), datetime.fromisoformat(str(data["origin"])), float(data["wall_origin"]))
