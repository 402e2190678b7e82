"""Record a driver's traffic, and replay it without the device.

:class:`RecordingTransport` wraps any transport and logs every exchange as one event:

.. code-block:: json

    {"seq": 3, "ts": "2026-01-05T22:00:00+00:00", "dir": "write", "data": "PROG:STAT?\\n"}
    {"seq": 4, "ts": "2026-01-05T22:00:00+00:00", "dir": "read_line", "data": "idle,\\"\\",..."}
    {"seq": 9, "ts": "...", "dir": "error", "op": "read_line", "type": "InstrumentTimeout", "message": "..."}

``dir`` is ``write``, ``read_line``, ``read_exact`` or ``error`` (the inner transport raised);
``data`` is the bytes decoded as latin-1, which maps every byte to one character, so binary
blocks survive a JSON round trip bit for bit. The log is a list (kept in memory) or a path
(appended as JSON lines). Tests also read the log to prove that a refused command never
reached the wire.

:class:`ReplayTransport` plays such a log back as a transport: every ``write`` must match the
recorded bytes exactly, reads return the recorded bytes, and recorded errors are raised again,
so a driver's behaviour is regression-tested without its simulator. Any deviation raises
:class:`~instruments.errors.ReplayMismatch` naming the step, what was recorded and what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from instruments import errors
from instruments.errors import InstrumentError, ReplayMismatch
from instruments.transport import Transport
from lab.clock import Clock, WallClock

__all__ = ["RecordingTransport", "ReplayTransport", "load_recording"]

_T = TypeVar("_T")
Event = dict[str, Any]


class RecordingTransport:
    """A transport that logs every write, read and error of ``inner``.

    Args:
        inner: the transport that does the work.
        log: a list to append events to, or a path to append JSON lines to.
        clock: where timestamps come from (the wall clock by default).
    """

    def __init__(self, inner: Transport, log: list[Event] | str | Path, clock: Clock | None = None) -> None:
        self.inner = inner
        self._log = log
        self._clock = clock or WallClock()
        self._seq = 0

    @property
    def writes(self) -> list[bytes]:
        """Every byte string written so far (only for an in-memory log)."""
        if not isinstance(self._log, list):
            raise TypeError("writes is only available when the log is a list; read the file instead")
        return [ev["data"].encode("latin-1") for ev in self._log if ev["dir"] == "write"]

    def write(self, data: bytes) -> None:
        self._logged("write", lambda: self.inner.write(data), data)

    def read_line(self) -> bytes:
        return self._logged("read_line", self.inner.read_line)

    def read_exact(self, n: int) -> bytes:
        return self._logged("read_exact", lambda: self.inner.read_exact(n))

    def close(self) -> None:
        self.inner.close()

    def _logged(self, op: str, action: Callable[[], _T], written: bytes | None = None) -> _T:
        try:
            result = action()
        except InstrumentError as exc:
            if written is not None:
                self._append({"dir": "write", "data": written.decode("latin-1")})
            self._append({"dir": "error", "op": op, "type": type(exc).__name__, "message": str(exc)})
            raise
        data = written if written is not None else result
        assert isinstance(data, bytes)
        self._append({"dir": op, "data": data.decode("latin-1")})
        return result

    def _append(self, event: Event) -> None:
        self._seq += 1
        event = {"seq": self._seq, "ts": self._clock.now().isoformat(), **event}
        if isinstance(self._log, list):
            self._log.append(event)
        else:
            with open(self._log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(event) + "\n")


def load_recording(source: Iterable[Event] | str | Path) -> list[Event]:
    """The events of a recording given as a list of events or a JSON-lines path."""
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return [dict(ev) for ev in source]


class ReplayTransport:
    """A transport that replays a recorded session and checks the driver does the same.

    Args:
        recording: events from :class:`RecordingTransport` (a list, or a JSON-lines path).
    """

    def __init__(self, recording: Iterable[Event] | str | Path) -> None:
        self._events = load_recording(recording)
        self._pos = 0

    @property
    def finished(self) -> bool:
        """True once every recorded event has been replayed."""
        return self._pos >= len(self._events)

    def assert_finished(self) -> None:
        """Raise :class:`ReplayMismatch` if the driver stopped before the end of the recording."""
        if not self.finished:
            ev = self._events[self._pos]
            raise ReplayMismatch(f"replay stopped at step {self._pos + 1} of {len(self._events)}: "
                                 f"the recording goes on with {ev['dir']} {ev.get('data', ev.get('type'))!r}")

    def write(self, data: bytes) -> None:
        ev = self._next("write", data)
        recorded = ev["data"].encode("latin-1")
        if recorded != data:
            raise ReplayMismatch(f"replay step {self._pos}: the driver wrote {data!r} "
                                 f"but the recording has {recorded!r}")
        self._raise_recorded_error("write")

    def read_line(self) -> bytes:
        return self._read("read_line")

    def read_exact(self, n: int) -> bytes:
        data = self._read("read_exact")
        if len(data) != n:
            raise ReplayMismatch(f"replay step {self._pos}: the driver read {n} bytes "
                                 f"but the recording read {len(data)}")
        return data

    def close(self) -> None:
        """Nothing to release; replay state is kept so :meth:`assert_finished` still works."""

    def _read(self, op: str) -> bytes:
        self._raise_recorded_error(op)
        return self._next(op)["data"].encode("latin-1")

    def _next(self, op: str, data: bytes | None = None) -> Event:
        doing = f"{op} {data!r}" if data is not None else op
        if self.finished:
            raise ReplayMismatch(f"the driver did {doing} after the end of the recording "
                                 f"({len(self._events)} events)")
        ev = self._events[self._pos]
        if ev["dir"] != op:
            raise ReplayMismatch(f"replay step {self._pos + 1}: the driver did {doing} but the recording has "
                                 f"{ev['dir']} {ev.get('data', ev.get('type'))!r}")
        self._pos += 1
        return ev

    def _raise_recorded_error(self, op: str) -> None:
        """Raise the error recorded at this point for ``op``, if one was recorded."""
        if self.finished:
            return
        ev = self._events[self._pos]
        if ev["dir"] == "error" and ev.get("op") == op:
            self._pos += 1
            cls = getattr(errors, ev["type"], None)
            if not (isinstance(cls, type) and issubclass(cls, InstrumentError)):
                cls = InstrumentError
            raise cls(ev["message"])
