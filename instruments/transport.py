"""Byte transports: what a driver needs of a serial link.

A driver takes its transport in its constructor (as httpx takes a transport), so the same driver
runs over a real serial port, a serial-to-Ethernet server, a pseudo-terminal served by a
simulator, a :class:`~instruments.recording.RecordingTransport` or a
:class:`~instruments.recording.ReplayTransport`.

:class:`SerialTransport` opens its port with :func:`serial.serial_for_url`, so all of these work:

* ``/dev/ttyUSB0`` (a USB-serial adapter) or a pseudo-terminal slave path such as ``/dev/pts/5``;
* ``socket://127.0.0.1:4001`` (a serial-to-Ethernet server, or a simulator on a loopback socket).

Reconnect on demand: the port is opened on first use, not in the constructor. When the link
drops (the read or write fails, or a socket is closed by the peer) the transport closes the port,
raises :class:`~instruments.errors.InstrumentConnectionError`, and opens the port again on the
next ``write``. Bytes in flight when the link dropped are lost; because every driver command is
idempotent, the caller simply repeats the command.

Line settings (:class:`~instruments.serial_settings.SerialSettings`): baud rate, parity, stop
bits, the line ending and the timeouts. The drivers speak lines ending in ``b"\n"``; the
transport writes the device's line ending in its place and hands back every line it reads ending
in ``b"\n"`` (its own ending removed). A read of ``n`` bytes (a definite-length block) may take
``timeout_s + n * bits_per_byte / baudrate * block_timeout_margin`` seconds, as long as bytes keep
coming (no gap of ``timeout_s``), so a 56 kB pattern arrives whole at 9600 baud (about 58 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

import serial

from instruments.errors import InstrumentConnectionError, InstrumentTimeout, PortUnavailable, translated
from instruments.serial_settings import SerialSettings

__all__ = ["SerialTransport", "Transport"]

_T = TypeVar("_T")


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte link to one device.

    Implementations raise only :class:`~instruments.errors.InstrumentError` subclasses:
    :class:`~instruments.errors.InstrumentTimeout` when bytes do not arrive in time and
    :class:`~instruments.errors.InstrumentConnectionError` when the link is down.
    """

    def write(self, data: bytes) -> None:
        """Send ``data`` to the device (connecting first if needed)."""
        ...

    def read_line(self) -> bytes:
        """Read up to and including the next ``b"\\n"``."""
        ...

    def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes."""
        ...

    def close(self) -> None:
        """Release the link; a later ``write`` may open it again."""
        ...


class SerialTransport:
    """A pyserial port, opened lazily and reopened after a dropped connection.

    Args:
        url: a device path (``/dev/ttyUSB0``, ``/dev/pts/5``) or a pyserial URL
            (``socket://127.0.0.1:4001``).
        baudrate: line speed (baud; ignored by sockets and pseudo-terminals); used when
            ``settings`` is not given.
        timeout: the longest wait for one reply line, or for the next bytes of a block (seconds);
            used when ``settings`` is not given.
        settings: every line setting (baud rate, parity, stop bits, line ending, timeouts).
    """

    def __init__(self, url: str, baudrate: int = 9600, timeout: float = 2.0, *,
                 settings: SerialSettings | None = None) -> None:
        if not url:
            raise ValueError("SerialTransport needs a port path or URL, e.g. /dev/ttyUSB0 or socket://127.0.0.1:4001")
        if settings is None:
            if timeout <= 0:
                raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
            settings = SerialSettings(baudrate=baudrate, timeout_s=timeout)
        self.url = url
        self.settings = settings
        self.baudrate = settings.baudrate
        self.timeout = settings.timeout_s
        self._eol = settings.line_ending.encode("ascii")
        self._port: serial.SerialBase | None = None
        self._rx = bytearray()

    def __repr__(self) -> str:
        state = "open" if self._port is not None else "closed"
        s = self.settings
        return (f"SerialTransport({self.url!r}, baudrate={s.baudrate}, parity={s.parity!r}, stopbits={s.stopbits}, "
                f"timeout={s.timeout_s}) [{state}]")

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._port is not None

    def open(self) -> None:
        """Open the port now (``write`` does this on demand)."""
        if self._port is None:
            s = self.settings
            try:
                with translated(f"opening {self.url}"):
                    self._port = serial.serial_for_url(self.url, baudrate=s.baudrate, parity=s.parity,
                                                       stopbits=s.stopbits, bytesize=serial.EIGHTBITS,
                                                       timeout=s.timeout_s, write_timeout=s.timeout_s)
            except InstrumentConnectionError as exc:
                raise PortUnavailable(str(exc)) from exc.__cause__

    def write(self, data: bytes) -> None:
        """Send ``data`` (its final ``b"\n"`` as the line ending), opening the port first if needed."""
        if self._eol != b"\n" and data.endswith(b"\n"):
            data = data[:-1] + self._eol
        self.open()
        self._io(lambda port: port.write(data), "writing")

    def read_line(self) -> bytes:
        """Read the next line, returned ending in ``b"\n"`` (``InstrumentTimeout`` after ``timeout`` s)."""
        deadline = time.monotonic() + self.timeout
        end_byte = self._eol[-1:]
        while True:
            end = self._rx.find(end_byte)
            if end >= 0:
                line = self._take(end + 1)
                return line.removesuffix(self._eol).removesuffix(end_byte) + b"\n"
            chunk = self._io(_read_available, "reading a line")
            self._rx += chunk
            if not chunk or (time.monotonic() > deadline and end_byte not in chunk):
                partial = self._take(len(self._rx))
                raise InstrumentTimeout(f"{self.url}: no complete line within {self.timeout} s (got {partial[:80]!r})")

    def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes.

        Allows :meth:`SerialSettings.block_timeout_s` of ``n`` (the command timeout plus ``n``
        bytes' time on the line times the margin), and at most ``timeout`` s without a byte.

        Raises:
            InstrumentTimeout: the bytes did not all arrive in time.
        """
        allowed = self.settings.block_timeout_s(n)
        deadline = time.monotonic() + allowed
        while len(self._rx) < n:
            chunk = self._io(lambda port: port.read(n - len(self._rx)), f"reading {n} bytes")
            self._rx += chunk
            if len(self._rx) >= n:
                break
            if not chunk or time.monotonic() >= deadline:
                got = len(self._rx)
                self._rx.clear()
                why = f"nothing for {self.timeout} s" if not chunk else f"not all within {allowed:.1f} s"
                raise InstrumentTimeout(f"{self.url}: {got} of {n} bytes arrived ({why}; "
                                        f"{self.settings.baudrate} baud)")
        return self._take(n)

    def _take(self, n: int) -> bytes:
        data = bytes(self._rx[:n])
        del self._rx[:n]
        return data

    def close(self) -> None:
        """Close the port and forget buffered bytes; the next ``write`` reopens it."""
        self._rx.clear()
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass  # the link is already gone; nothing more to release

    def _io(self, action: Callable[[serial.SerialBase], _T], what: str) -> _T:
        """Run ``action(port)``, closing the port when the link fails so the next write reconnects."""
        if self._port is None:
            raise InstrumentConnectionError(f"{self.url}: not connected (write a command first)")
        try:
            with translated(f"{self.url}: {what}"):
                return action(self._port)
        except InstrumentConnectionError:
            self.close()
            raise

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_available(port: serial.SerialBase) -> bytes:
    """Wait up to the port timeout for one byte, then take whatever else has arrived."""
    first = port.read(1)
    if not first:
        return b""
    waiting = port.in_waiting
    return first + port.read(waiting) if waiting else first
