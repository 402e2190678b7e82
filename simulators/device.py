"""Base of the line-protocol device simulators: parse, dispatch, reply, fail on request.

A :class:`LineDevice` turns one received line into one :class:`Response` (bytes to send, after an
optional delay, or a dropped connection); :mod:`simulators.serve` carries the bytes over a
pseudo-terminal or a loopback socket. The conventions are those of :mod:`instruments.scpi`:
one reply per line (``OK``, a value, a ``#<n><len>`` block, or ``ERR <code>,"<message>"``,
which is also pushed onto the ``SYST:ERR?`` queue). Empty lines are ignored. Headers are
case-insensitive, in short or long form, and a line may hold several commands separated by ``;``
(:mod:`simulators.ieee488`, which also has the IEEE 488.2 common commands); arguments are
comma-separated, strings in double quotes. An error entry ``<code>,"<message>"`` is at most 255
characters (SCPI): longer messages are cut, ending in ``...``.

Out-of-range values are refused with ``ERR -222`` as a real device would, whatever the driver
let through. Faults come from a :class:`~simulators.faults.FaultInjector`; a restart it announces
power-cycles the device (:meth:`LineDevice.power_cycle`) and drops the connection.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from instruments.scpi import MAX_ERROR_CHARS
from lab.clock import Clock
from simulators.faults import FaultInjector, FaultPlan
from simulators.ieee488 import StatusRegisters, normalize_header, split_units

__all__ = ["DeviceRefusal", "LineDevice", "Response", "encode_block"]

log = logging.getLogger(__name__)
#: Entries the ``SYST:ERR?`` queue holds.
ERROR_QUEUE_SIZE = 32

#: A command handler: takes the arguments, returns a reply line (str) or raw reply bytes.
Handler = Callable[[list[str]], "str | bytes"]


@dataclass(frozen=True)
class Response:
    """What the server does after one received line.

    Attributes:
        payload: the bytes to send (None: send nothing).
        delay_s: wait this long first (real seconds).
        drop: drop the connection instead of (after) sending.
    """

    payload: bytes | None
    delay_s: float = 0.0
    drop: bool = False


class DeviceRefusal(Exception):
    """Raised by a handler to reply ``ERR <code>,"<message>"``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def encode_block(payload: bytes) -> bytes:
    """``payload`` as an IEEE 488.2 definite-length block followed by ``\\n``."""
    length = str(len(payload)).encode("ascii")
    return b"#" + str(len(length)).encode("ascii") + length + payload + b"\n"


class LineDevice:
    """A simulated instrument speaking a SCPI-style line protocol.

    Subclasses add handlers in :meth:`handlers` and advance their state in :meth:`tick`.

    Args:
        name: the instrument's name (also its serial number).
        clock: the time the device lives on.
        faults: a fault plan or injector (no faults by default).
    """

    maker = "LabSim"
    model = "LineDevice"
    firmware = "1.0"

    def __init__(self, name: str, clock: Clock, faults: FaultPlan | FaultInjector | None = None) -> None:
        self.name = name
        self.clock = clock
        self.faults = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
        self.received: list[str] = []
        #: Restarts so far (:meth:`power_cycle`).
        self.restarts = 0
        #: The job key of the last line that named one (the first double-quoted argument).
        self.last_key: str | None = None
        self._errors: deque[tuple[int, str]] = deque()
        self._noise = random.Random(f"{name}:garble:{self.faults.plan.seed}")
        self._lock = threading.RLock()
        #: The IEEE 488.2 status registers (``*ESR?``, ``*STB?``...).
        self.status = StatusRegisters(lambda: len(self._errors), self._errors.clear, self.reset, DeviceRefusal)
        self._handlers: dict[str, Handler] = {
            **self.status.handlers(),
            "*IDN?": self._idn,
            "SYST:ERR?": self._next_error,
        }
        self._handlers.update({normalize_header(h): f for h, f in self.handlers().items()})

    def handlers(self) -> dict[str, Handler]:
        """The device's own commands, by header (subclasses override)."""
        return {}

    def reset(self) -> None:
        """``*RST``: staged setpoints back to their power-on values (job devices override)."""

    def power_cycle(self, at: datetime) -> str | None:
        """Restart the device as of ``at``: forget what a controller keeps in RAM (here: the error queue).

        Job devices also cut the job running at ``at`` and reset their staged setpoints
        (:meth:`simulators.jobs.JobDevice.power_cycle`). The clock is the lab's, so it survives.

        Returns:
            The key of the job the restart cut, if any.
        """
        with self._lock:
            self._errors.clear()
            self.status.power_on()
            self.restarts += 1
            return None

    def tick(self) -> None:
        """Bring the device's state up to ``clock.now()`` (subclasses override)."""

    def process(self, raw: bytes) -> Response:
        """Handle one received line (without its ``\\n``) and say what to send back."""
        with self._lock:
            try:
                line = raw.rstrip(b"\r").decode("ascii").strip()
            except UnicodeDecodeError:
                return Response(self._error(-101, "Invalid character"))
            if not line:
                return Response(None)
            units = split_units(line)
            if not units:
                return Response(None)
            header, _, rest = units[0].partition(" ")
            if normalize_header(header) == "SYST:SYNC?" and len(units) == 1:
                return Response(f"SYNC {rest.strip()}\n".encode("ascii"))
            self.last_key = _first_quoted(line) or self.last_key
            now = self.clock.now()
            restart_at = self.faults.restart_due(now)
            if restart_at is not None:  # the line is lost with the link
                cut = self.power_cycle(restart_at)
                self.faults.record_restart(restart_at, line, cut or self.last_key, cut=cut is not None)
                return Response(None, drop=True)
            self.received.append(line)
            fault = self.faults.next_reply_fault(normalize_header(header), line=line, at=now, key=self.last_key)
            if fault == "device_error":
                return Response(self._error(self.faults.plan.error_code, self.faults.plan.error_message))
            return self._apply(fault, self._execute_line(units))

    def _execute_line(self, units: list[str]) -> bytes:
        """Run the units of one line in order; the reply (see :mod:`simulators.ieee488`)."""
        path, values = "", []
        for unit in units:
            header, _, rest = unit.partition(" ")
            full = normalize_header(header)
            if path and not header.startswith((":", "*")) and f"{path}:{full}" in self._handlers:
                full = f"{path}:{full}"
            reply = self._execute(full, rest)
            if reply.startswith(b"ERR "):
                return reply
            if reply.startswith(b"#") and len(units) > 1:
                return self._error(-110, f"Command header error: block query {full} must stand alone on its line")
            if not full.startswith("*"):
                path = full.rpartition(":")[0]
            if full.endswith("?") or reply.startswith(b"#"):
                values.append(reply)
        if len(units) == 1:
            return reply
        return b";".join(v.rstrip(b"\n") for v in values) + b"\n" if values else b"OK\n"

    def _execute(self, header: str, rest: str) -> bytes:
        handler = self._handlers.get(header)
        if handler is None:
            return self._error(-113, f"Undefined header {header}")
        args = [a.strip() for a in rest.split(",")] if rest.strip() else []
        try:
            self.tick()
            reply = handler(args)
        except DeviceRefusal as exc:
            return self._error(exc.code, exc.message)
        except Exception as exc:  # a simulator bug must not kill the serving thread
            log.exception("%s: handler for %s failed", self.name, header)
            return self._error(599, f"Internal simulator error: {type(exc).__name__}: {exc}")
        return reply if isinstance(reply, bytes) else (reply + "\n").encode("ascii")

    def _apply(self, fault: str | None, payload: bytes) -> Response:
        if fault == "no_reply":
            return Response(None)
        if fault == "late_reply":
            return Response(payload, delay_s=self.faults.plan.late_s)
        if fault == "garbled":
            noise = bytes(self._noise.randrange(0x80, 0x100) for _ in range(min(len(payload), 24) or 8))
            return Response(noise + b"\n")
        if fault == "drop":
            return Response(None, drop=True)
        return Response(payload)

    def _error(self, code: int, message: str) -> bytes:
        message = error_text(code, message)
        self.status.record_error(code)
        if len(self._errors) >= ERROR_QUEUE_SIZE:  # SCPI: the last entry says the queue overflowed
            self._errors[-1] = (-350, "Queue overflow")
        else:
            self._errors.append((code, message))
        return f'ERR {code},"{message}"\n'.encode("ascii", "replace")

    def _idn(self, args: list[str]) -> str:
        return f"{self.maker},{self.model},{self.name},{self.firmware}"

    def _next_error(self, args: list[str]) -> str:
        if not self._errors:
            return '0,"No error"'
        code, message = self._errors.popleft()
        return f'{code},"{message}"'


def error_text(code: int, message: str) -> str:
    """``message`` made fit for an error entry: ASCII, no double quotes, and ``<code>,"<message>"``
    at most :data:`~instruments.scpi.MAX_ERROR_CHARS` (255) characters (cut, ending in ``...``).

    Example:
        >>> len(f'-222,"{error_text(-222, "x" * 400)}"')
        255
    """
    message = message.replace('"', "'").encode("ascii", "replace").decode("ascii").replace("\n", " ")
    room = MAX_ERROR_CHARS - len(f'{code},""')
    return message if len(message) <= room else message[:room - 3] + "..."


def _first_quoted(rest: str) -> str | None:
    """The first double-quoted argument of a command's arguments (a job key in these protocols), or None."""
    start = rest.find('"')
    end = rest.find('"', start + 1) if start >= 0 else -1
    return (rest[start + 1:end] or None) if end > start else None


def unquote(text: str) -> str:
    """``text`` without surrounding double quotes."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def want_args(args: list[str], count: int, usage: str) -> list[str]:
    """``args`` (unquoted) if there are exactly ``count``; else refuse with ``ERR -109``."""
    if len(args) != count:
        raise DeviceRefusal(-109, f"Missing or extra parameter; usage: {usage}")
    return [unquote(a) for a in args]


def want_number(text: str, name: str, low: float, high: float, unit: str) -> float:
    """``text`` as a number in ``[low, high]``; else refuse with ``ERR -104`` or ``ERR -222``."""
    try:
        value = float(text)
    except ValueError:
        raise DeviceRefusal(-104, f"Data type error: {name} {text!r} is not a number") from None
    if not low <= value <= high:
        raise DeviceRefusal(-222, f"Data out of range: {name} {value} {unit} (allowed {low}..{high} {unit})")
    return value
