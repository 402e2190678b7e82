"""Serial line settings of one instrument, and how long a transfer over that line takes.

A lab file's ``[[instrument]]`` entry may carry a ``serial`` table (see the README's lab-file
section and :mod:`flows.campaign.runtime`)::

    serial = { baudrate = 9600, parity = "N", stopbits = 1, line_ending = "\\n", timeout_s = 2.0, block_timeout_margin = 2.0 }

Every field is optional (the defaults below). Data bits are always 8: binary blocks need them.

A byte on the wire is one start bit, 8 data bits, a parity bit unless parity is ``"N"``, and the
stop bits: 10 bits for 8N1, 11 for 8E1 or 8N2. Reading an IEEE 488.2 definite-length block of
``n`` bytes may take :meth:`SerialSettings.block_timeout_s`: the command timeout plus the
block's time on the line times the margin.

Example:
    >>> s = SerialSettings(baudrate=9600)
    >>> s.bits_per_byte, round(s.transfer_s(56_000), 1), round(s.block_timeout_s(56_000), 1)
    (10.0, 58.3, 118.7)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["LINE_ENDINGS", "PARITIES", "STOPBITS", "SerialSettings", "serial_problems", "serial_settings"]

#: Parity names (pyserial's): none, even, odd, mark, space.
PARITIES = ("N", "E", "O", "M", "S")
#: Stop bits pyserial accepts.
STOPBITS = (1, 1.5, 2)
#: Line terminators a device may use.
LINE_ENDINGS = ("\n", "\r\n", "\r")
#: Lowest and highest line speed accepted (baud).
BAUD_RANGE = (50, 4_000_000)
#: Longest command timeout accepted (seconds).
MAX_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SerialSettings:
    """How to talk to one instrument over its serial line.

    Attributes:
        baudrate: line speed (baud = bits per second); ignored by sockets and pseudo-terminals
            except for the block timeout.
        parity: ``"N"``, ``"E"``, ``"O"``, ``"M"`` or ``"S"``.
        stopbits: 1, 1.5 or 2.
        line_ending: the terminator of every line on the wire (``"\\n"``, ``"\\r\\n"`` or ``"\\r"``).
        timeout_s: the longest wait for one reply line, or for the next bytes of a block (seconds).
        block_timeout_margin: factor (>= 1) on a block's time on the line.
    """

    baudrate: int = 9600
    parity: str = "N"
    stopbits: float = 1
    line_ending: str = "\n"
    timeout_s: float = 2.0
    block_timeout_margin: float = 2.0

    def __post_init__(self) -> None:
        found = serial_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if found:
            raise ValueError("; ".join(f"{name}: {message}" for name, message in found))

    @property
    def bits_per_byte(self) -> float:
        """Bits on the wire per byte: start, 8 data, parity (unless ``"N"``) and stop bits."""
        return 1 + 8 + (0 if self.parity == "N" else 1) + float(self.stopbits)

    def transfer_s(self, n_bytes: int) -> float:
        """Time ``n_bytes`` take on the line (seconds)."""
        return n_bytes * self.bits_per_byte / self.baudrate

    def block_timeout_s(self, n_bytes: int) -> float:
        """Time allowed to read a block of ``n_bytes``: ``timeout_s + transfer_s * margin`` (seconds)."""
        return self.timeout_s + self.transfer_s(n_bytes) * self.block_timeout_margin


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value: object) -> str | None:
    """What ``value`` of field ``name`` should have been, or None when it is fine."""
    if name == "baudrate":
        lo, hi = BAUD_RANGE
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"expected a whole number of baud in {lo}..{hi}, e.g. 9600 or 115200"
    if name == "parity":
        return None if value in PARITIES else f"expected one of {', '.join(repr(p) for p in PARITIES)}"
    if name == "stopbits":
        return None if _number(value) and value in STOPBITS else "expected 1, 1.5 or 2"
    if name == "line_ending":
        return None if value in LINE_ENDINGS else 'expected "\\n", "\\r\\n" or "\\r"'
    if name == "timeout_s":
        ok = _number(value) and 0 < value <= MAX_TIMEOUT_S  # type: ignore[operator]
        return None if ok else f"expected a number of seconds > 0 and <= {MAX_TIMEOUT_S:g}, e.g. 2.0"
    ok = _number(value) and value >= 1  # type: ignore[operator]  # block_timeout_margin
    return None if ok else "expected a number >= 1, e.g. 2.0"


def serial_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every bad field of a ``serial`` table, as ``(field, what was expected)``; empty when it is fine.

    Example:
        >>> [name for name, _ in serial_problems({"baudrate": "fast", "bits": 8})]
        ['baudrate', 'bits']
        >>> serial_problems({"parity": "X"})
        [('parity', "expected one of 'N', 'E', 'O', 'M', 'S'; got 'X'")]
    """
    known = [f.name for f in fields(SerialSettings)]
    found: list[tuple[str, str]] = []
    for name, value in values.items():
        if name not in known:
            found.append((name, f"unknown field; expected some of {', '.join(known)}"))
            continue
        problem = _check(name, value)
        if problem is not None:
            found.append((name, f"{problem}; got {value!r}"))
    return found


def serial_settings(values: Mapping[str, Any] | None = None) -> SerialSettings:
    """:class:`SerialSettings` from a ``serial`` table (defaults for the fields it leaves out).

    Raises:
        ValueError: a field is unknown or out of range; names each.
    """
    values = dict(values or {})
    found = serial_problems(values)
    if found:
        raise ValueError("; ".join(f"serial.{name}: {message}" for name, message in found))
    if "stopbits" in values and float(values["stopbits"]).is_integer():
        values["stopbits"] = int(values["stopbits"])
    return SerialSettings(**values)
