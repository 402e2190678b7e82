"""A small SCPI-style line client shared by every driver.

Conventions of the lab's line protocols (all three instruments share them):

* ASCII lines terminated by ``\\n`` in both directions (a ``\\r`` before it is ignored).
* **Every line the controller sends gets exactly one reply**, so a lost reply is always noticed:
  a command that changes state replies ``OK``; a query (header ends in ``?``) replies its value.
* An error reply is ``ERR <code>,"<message>"`` (SCPI negative codes for command errors, device
  codes >= 200; see :mod:`instruments.errors`). The device also pushes it onto its error queue,
  which ``SYST:ERR?`` drains one entry at a time (``<code>,"<message>"``, ``0,"No error"`` when
  empty), as in SCPI.
* Bulk data comes as an IEEE 488.2 definite-length block ``#<n><len><bytes>`` followed by
  ``\\n``: ``<n>`` is one digit giving the number of digits of ``<len>``, ``<len>`` is the
  number of bytes. A block query that fails replies an ``ERR`` line instead.
* Error strings (``<code>,"<message>"``) are at most 255 characters, as SCPI allows; a longer
  device message is cut to fit (ending in ``...``) by :func:`parse_error_reply`.
* Strings (job keys, sample ids) are sent in double quotes; they are checked by the drivers to
  hold no quotes or commas (see :func:`instruments.limits.check_identifier`).
* Resynchronisation: ``SYST:SYNC? <n>`` replies ``SYNC <n>``. After a timeout, a garbled reply or
  a dropped link the client no longer knows what is in flight (a late reply may still come), so
  before its next command it sends a sync query with a fresh number and discards every line
  until the matching ``SYNC <n>`` arrives. A late reply therefore never answers the wrong
  question.

All errors are mapped in :mod:`instruments.errors`: transport failures by
:func:`~instruments.errors.translated`, ``ERR`` replies by :func:`~instruments.errors.device_error`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from instruments.errors import (
    GarbledReply,
    InstrumentConnectionError,
    InstrumentTimeout,
    device_error,
    translated,
)
from instruments.transport import Transport

__all__ = ["MAX_ERROR_CHARS", "ScpiClient", "parse_error_reply", "quote"]

_T = TypeVar("_T")
#: An error code is at most 9 ASCII digits (SCPI codes have 3), so ``int`` never sees thousands of digits.
_ERR = re.compile(r'^(?:ERR )?(-?[0-9]{1,9}),"(.*)"$')
#: The largest binary block accepted (bytes); a larger announced length means a garbled header.
MAX_BLOCK_BYTES = 64 * 1024 * 1024
#: The longest error string ``<code>,"<message>"`` (characters; SCPI-99 21.8).
MAX_ERROR_CHARS = 255


def quote(text: str) -> str:
    """``text`` as a SCPI string argument (in double quotes)."""
    return f'"{text}"'


def parse_error_reply(line: str) -> tuple[int, str]:
    """The ``(code, message)`` of ``ERR <code>,"<message>"`` or of a ``SYST:ERR?`` entry.

    A message that would make ``<code>,"<message>"`` longer than :data:`MAX_ERROR_CHARS` is cut
    to fit, ending in ``...``.

    Raises:
        GarbledReply: the line has neither shape.

    Example:
        >>> code, message = parse_error_reply('ERR 501,"' + "x" * 400 + '"')
        >>> code, len(f'{code},"{message}"'), message[-3:]
        (501, 255, '...')
    """
    match = _ERR.match(line)
    if match is None:
        raise GarbledReply(f'expected an error reply like ERR -222,"Data out of range", got {line[:80]!r}')
    code, message = int(match.group(1)), match.group(2)
    room = MAX_ERROR_CHARS - len(f'{code},""')
    return code, message if len(message) <= room else message[:room - 3] + "..."


class ScpiClient:
    """Line-oriented request/reply client over a :class:`~instruments.transport.Transport`.

    Thread-safe: one exchange at a time.

    Args:
        transport: the byte link.
        name: the instrument's name, used in error messages.
        resync_s: how long to wait for the resynchronisation reply (seconds).
    """

    def __init__(self, transport: Transport, name: str = "instrument", resync_s: float = 2.0) -> None:
        self.transport = transport
        self.name = name
        self.resync_s = resync_s
        self._lock = threading.RLock()
        self._dirty = False
        self._sync_token = 0

    def query(self, command: str) -> str:
        """Send a query and return its reply line (without the terminator).

        Raises:
            DeviceError: the device replied ``ERR ...``.
        """
        return self._exchange(command, self._read_reply)

    def write(self, command: str) -> None:
        """Send a command and check that the device accepted it (replied ``OK``).

        Raises:
            DeviceError: the device replied ``ERR ...``.
            GarbledReply: the reply was neither ``OK`` nor an error.
        """
        reply = self.query(command)
        if reply != "OK":
            raise GarbledReply(f"{self.name}: expected OK after {command!r}, got {reply!r}")

    def query_block(self, command: str) -> bytes:
        """Send a query whose reply is an IEEE 488.2 definite-length block; return its payload."""
        return self._exchange(command, self._read_block)

    def close(self) -> None:
        """Close the transport."""
        with self._lock:
            self.transport.close()

    def _exchange(self, command: str, read: Callable[[str], _T]) -> _T:
        with self._lock:
            if self._dirty:
                self._resync()
            try:
                self._send(command)
                return read(command)
            except (InstrumentTimeout, GarbledReply, InstrumentConnectionError):
                self._dirty = True
                raise

    def _send(self, command: str) -> None:
        if "\n" in command or "\r" in command:
            raise ValueError(f"a command is one line; {command!r} holds a line break")
        if not command.isascii():
            raise ValueError(f"a command is ASCII; {command!r} is not")
        self.transport.write((command + "\n").encode("ascii"))

    def _read_line(self, command: str) -> str:
        raw = self.transport.read_line()
        with translated(f"{self.name}: reply to {command!r}"):
            return raw.decode("ascii").rstrip("\r\n")

    def _read_reply(self, command: str) -> str:
        line = self._read_line(command)
        if line.startswith("ERR "):
            raise device_error(*parse_error_reply(line))
        return line

    def _read_block(self, command: str) -> bytes:
        first = self.transport.read_exact(1)
        if first != b"#":
            rest = b"" if first == b"\n" else self.transport.read_line()
            with translated(f"{self.name}: reply to {command!r}"):
                line = (first + rest).decode("ascii").rstrip("\r\n")
            if line.startswith("ERR "):
                raise device_error(*parse_error_reply(line))
            raise GarbledReply(f"{self.name}: expected a #<n><len> block after {command!r}, got {line[:60]!r}")
        length = self._block_length(command)
        payload = self.transport.read_exact(length) if length else b""
        if self.transport.read_line().rstrip(b"\r\n"):
            raise GarbledReply(f"{self.name}: block of {length} bytes after {command!r} is not followed by a newline")
        return payload

    def _block_length(self, command: str) -> int:
        digits = self.transport.read_exact(1)
        if not digits.isdigit() or digits == b"0":
            raise GarbledReply(f"{self.name}: block header after {command!r} has length digit {digits!r}, "
                               "expected 1-9 (indefinite blocks are not supported)")
        text = self.transport.read_exact(int(digits))
        if not text.isdigit() or int(text) > MAX_BLOCK_BYTES:
            raise GarbledReply(f"{self.name}: block length {text!r} after {command!r} is not a number "
                               f"<= {MAX_BLOCK_BYTES}")
        return int(text)

    def _resync(self) -> None:
        """Discard stale replies until the device answers a fresh ``SYST:SYNC?``."""
        self._sync_token += 1
        expected = f"SYNC {self._sync_token}"
        self._send(f"SYST:SYNC? {self._sync_token}")
        deadline = time.monotonic() + self.resync_s
        while True:
            try:
                raw = self.transport.read_line()
            except InstrumentTimeout:
                if time.monotonic() >= deadline:
                    raise InstrumentTimeout(f"{self.name}: no reply to the resynchronisation query "
                                            f"within {self.resync_s} s") from None
                continue
            if raw.rstrip(b"\r\n") == expected.encode("ascii"):
                self._dirty = False
                return
            if time.monotonic() >= deadline:
                raise GarbledReply(f"{self.name}: stale replies kept coming for {self.resync_s} s "
                                   "while resynchronising")
