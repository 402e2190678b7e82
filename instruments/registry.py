"""Open a driver by instrument kind and port.

Example:
    >>> furnace = open_instrument("furnace", "/dev/ttyUSB0", "furnace-1", max_temperature_c=1200)  # doctest: +SKIP
    >>> furnace.identify()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from instruments.diffractometer import Diffractometer, XrdLimits
from instruments.dosing import DosingLimits, DosingStation
from instruments.furnace import BoxFurnace, FurnaceLimits
from instruments.protocol import StepDriver
from instruments.spectrometer import SpectrometerLimits, UvVisSpectrometer
from instruments.transport import SerialTransport
from lab.instrument_kind import InstrumentKind

__all__ = ["KINDS", "open_instrument"]

#: The driver classes: each is built as ``cls(transport, limits, name=name)``.
DriverClass = type[BoxFurnace | DosingStation | Diffractometer | UvVisSpectrometer]

#: Instrument kind -> (driver class, limits class).
KINDS: dict[InstrumentKind, tuple[DriverClass, type]] = {
    InstrumentKind.FURNACE: (BoxFurnace, FurnaceLimits),
    InstrumentKind.DOSING: (DosingStation, DosingLimits),
    InstrumentKind.XRD: (Diffractometer, XrdLimits),
    InstrumentKind.UVVIS: (UvVisSpectrometer, SpectrometerLimits),
}


def open_instrument(kind: str | InstrumentKind, url: str, name: str, *, timeout: float = 2.0, baudrate: int = 9600,
                    **limits: Any) -> StepDriver:
    """The driver for an instrument of ``kind`` on ``url``, over a :class:`SerialTransport`.

    The port opens on the first command (see :mod:`instruments.transport`).

    Args:
        kind: an :class:`~lab.instrument_kind.InstrumentKind` or its value (``"furnace"``, ``"uvvis"``...).
        url: device path or pyserial URL (``/dev/ttyUSB0``, ``socket://127.0.0.1:4001``).
        name: the instrument's name (e.g. ``"furnace-2"``).
        timeout: the transport's read timeout (seconds).
        baudrate: line speed (baud).
        **limits: fields of the kind's limits dataclass, e.g. ``max_temperature_c=1200``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown instrument kind {kind!r}; expected one of {', '.join(KINDS)}")
    driver_cls, limits_cls = KINDS[InstrumentKind(kind)]
    allowed = {f.name for f in fields(limits_cls)}
    unknown = sorted(set(limits) - allowed)
    if unknown:
        raise ValueError(f"unknown {kind} limit(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")
    transport = SerialTransport(url, baudrate=baudrate, timeout=timeout)
    return driver_cls(transport, limits_cls(**limits), name=name)
