"""Serve a simulated device at the byte rate of a real serial line.

A pseudo-terminal or a loopback socket delivers a 56 kB pattern in a millisecond; a serial line
at 9600 baud (8N1: 10 bits per byte, 960 bytes/s) takes about 58 s. :func:`serve_paced` serves a
device on a loopback socket whose replies go out in small chunks, each sent when the line would
have carried it, so a driver reads replies exactly as slowly as over the real line.

Example:
    >>> from lab.clock import SimulatedClock
    >>> from simulators.device import LineDevice
    >>> with serve_paced(LineDevice("box", SimulatedClock()), baudrate=9600) as served:
    ...     served.url.startswith("socket://127.0.0.1:"), served.bytes_per_s
    (True, 960.0)
"""

from __future__ import annotations

import logging
import time

from simulators.device import LineDevice
from simulators.serve import SocketServed

__all__ = ["PacedSocketServed", "serve_paced"]

log = logging.getLogger(__name__)


class PacedSocketServed(SocketServed):
    """A device on a loopback socket whose replies flow at a serial line's byte rate.

    Args:
        device: the simulated device.
        baudrate: the line speed to imitate (baud).
        bits_per_byte: bits on the wire per byte (10 for 8N1, 11 for 8E1 or 8N2).
        chunk_bytes: bytes sent at a time (the pacing's granularity).
        host: a loopback address.
    """

    def __init__(self, device: LineDevice, baudrate: int, bits_per_byte: float = 10.0, chunk_bytes: int = 32,
                 host: str = "127.0.0.1") -> None:
        if baudrate <= 0 or bits_per_byte <= 0 or chunk_bytes <= 0:
            raise ValueError(f"baudrate, bits_per_byte and chunk_bytes must be > 0, got {baudrate}, "
                             f"{bits_per_byte}, {chunk_bytes}")
        #: Bytes per second the line carries.
        self.bytes_per_s = baudrate / bits_per_byte
        self.chunk_bytes = chunk_bytes
        super().__init__(device, host)

    def _send(self, payload: bytes) -> None:
        start = time.monotonic()
        for offset in range(0, len(payload), self.chunk_bytes):
            client = self._client
            if client is None or self._stop.is_set() or self._drop_requested.is_set():
                return
            chunk = payload[offset:offset + self.chunk_bytes]
            try:
                client.sendall(chunk)
            except OSError as exc:
                log.warning("%s: reply not sent (%s)", self.device.name, exc)
                self._drop()
                return
            due = start + (offset + len(chunk)) / self.bytes_per_s
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return


def serve_paced(device: LineDevice, baudrate: int, bits_per_byte: float = 10.0,
                host: str = "127.0.0.1") -> PacedSocketServed:
    """Serve ``device`` on a loopback socket at ``baudrate``; ``.url`` is ``socket://<host>:<port>``."""
    return PacedSocketServed(device, baudrate, bits_per_byte, host=host)
