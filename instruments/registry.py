"""Open a driver by instrument kind and port; build a kind's limits; check a step against limits.

:func:`make_limits` builds a kind's limits dataclass from plain values (a lab file's ``limits``
table), and :func:`step_limit_problems` checks a workflow step's command against such limits
with the driver's own checks, without any transport: ``lab queue`` uses both to refuse a campaign
the instruments would refuse, before anything is stored.

Example:
    >>> furnace = open_instrument("furnace", "/dev/ttyUSB0", "furnace-1", max_temperature_c=1200)  # doctest: +SKIP
    >>> furnace.identify()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any

from instruments.diffractometer import Diffractometer, XrdLimits
from instruments.dosing import DosingLimits, DosingStation
from instruments.furnace import BoxFurnace, FurnaceLimits
from instruments.limits import Problem
from instruments.protocol import StepDriver
from instruments.serial_settings import SerialSettings, serial_settings
from instruments.spectrometer import SpectrometerLimits, UvVisSpectrometer
from instruments.transport import SerialTransport
from lab.instrument_kind import InstrumentKind

__all__ = ["KINDS", "Limits", "make_limits", "open_instrument", "step_duration_s", "step_limit_problems"]

#: The driver classes: each is built as ``cls(transport, limits, name=name)``.
DriverClass = type[BoxFurnace | DosingStation | Diffractometer | UvVisSpectrometer]
#: A limits object of one of the kinds.
Limits = FurnaceLimits | DosingLimits | XrdLimits | SpectrometerLimits

#: Instrument kind -> (driver class, limits class).
KINDS: dict[InstrumentKind, tuple[DriverClass, type]] = {
    InstrumentKind.FURNACE: (BoxFurnace, FurnaceLimits),
    InstrumentKind.DOSING: (DosingStation, DosingLimits),
    InstrumentKind.XRD: (Diffractometer, XrdLimits),
    InstrumentKind.UVVIS: (UvVisSpectrometer, SpectrometerLimits),
}


def open_instrument(kind: str | InstrumentKind, url: str, name: str, *, timeout: float = 2.0, baudrate: int = 9600,
                    serial: SerialSettings | Mapping[str, Any] | None = None, **limits: Any) -> StepDriver:
    """The driver for an instrument of ``kind`` on ``url``, over a :class:`SerialTransport`.

    The port opens on the first command (see :mod:`instruments.transport`).

    Args:
        kind: an :class:`~lab.instrument_kind.InstrumentKind` or its value (``"furnace"``, ``"uvvis"``...).
        url: device path or pyserial URL (``/dev/ttyUSB0``, ``socket://127.0.0.1:4001``).
        name: the instrument's name (e.g. ``"furnace-2"``).
        timeout: the transport's read timeout (seconds); used when ``serial`` is not given.
        baudrate: line speed (baud); used when ``serial`` is not given.
        serial: the line settings, or a lab file's ``serial`` table
            (:func:`~instruments.serial_settings.serial_settings`).
        **limits: fields of the kind's limits dataclass, e.g. ``max_temperature_c=1200``.

    Raises:
        ValueError: unknown kind, a bad limit or a bad serial setting; names each.
    """
    driver_cls = _kind(kind)[0]
    built = make_limits(kind, **limits)
    if serial is None:
        settings = SerialSettings(baudrate=baudrate, timeout_s=timeout)
    else:
        settings = serial if isinstance(serial, SerialSettings) else serial_settings(serial)
    transport = SerialTransport(url, settings=settings)
    return driver_cls(transport, built, name=name)  # type: ignore[arg-type]  # make_limits built this kind's class


def step_duration_s(kind: str | InstrumentKind, command: Mapping[str, Any]) -> float:
    """The expected duration of a step on an instrument of ``kind`` (seconds), with none of that kind connected.

    The kind's own driver computes it (:meth:`~instruments.protocol.StepDriver.step_duration_s`
    does no I/O), on an instance built without a transport, so nothing can be sent: a lab split
    across hosts plans a step whose instrument another host holds.

    Raises:
        ValueError: unknown kind.
    """
    driver_cls = _kind(kind)[0]
    unconnected: StepDriver = driver_cls.__new__(driver_cls)
    return float(unconnected.step_duration_s(command))


def _kind(kind: str | InstrumentKind) -> tuple[DriverClass, type]:
    if kind not in KINDS:
        raise ValueError(f"unknown instrument kind {kind!r}; expected one of {', '.join(KINDS)}")
    return KINDS[InstrumentKind(kind)]


def make_limits(kind: str | InstrumentKind, **values: Any) -> Limits:
    """The limits of an instrument of ``kind``: the dataclass defaults, with ``values`` in their place.

    Numbers must be numbers (whole numbers for counts) and choices a list of names, so a lab
    file's typo is refused here rather than deep inside a check.

    Args:
        kind: an :class:`~lab.instrument_kind.InstrumentKind` or its value.
        **values: fields of the kind's limits dataclass, e.g. ``max_temperature_c=1200`` (°C).

    Raises:
        ValueError: unknown kind, unknown field, or a value of the wrong type; names each.

    Example:
        >>> make_limits("furnace", max_temperature_c=1200).max_temperature_c
        1200.0
    """
    limits_cls = _kind(kind)[1]
    kind = InstrumentKind(kind).value
    defaults = {f.name: f.default for f in fields(limits_cls) if f.default is not MISSING}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {kind} limit(s) {', '.join(unknown)}; expected some of {', '.join(sorted(defaults))}")
    built: dict[str, Any] = {}
    for name, value in values.items():
        default = defaults[name]
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{kind} limit {name}={value!r}: expected a list of names, e.g. {list(default)}")
            built[name] = tuple(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(default, int) and not isinstance(value, int)):
            wanted = "a whole number" if isinstance(default, int) else "a number"
            raise ValueError(f"{kind} limit {name}={value!r}: expected {wanted}, e.g. {default}")
        else:
            built[name] = type(default)(value)
    return limits_cls(**built)


def step_limit_problems(kind: str | InstrumentKind, command: Mapping[str, Any], limits: Limits) -> list[Problem]:
    """Everything the driver of ``kind`` would refuse in a step's ``command`` under ``limits``.

    Uses the driver's own checks (its ``step_problems``), so each limit is defined once; nothing
    is opened or sent.

    Args:
        kind: the step's instrument kind.
        command: the step's command, as :func:`lab.workflow.plan_steps` plans it.
        limits: the instrument's limits (:func:`make_limits`).

    Returns:
        ``(argument, message)`` pairs; empty when the driver would accept the command.
    """
    driver_cls = _kind(kind)[0]
    return driver_cls.step_problems(command, limits)  # type: ignore[arg-type]  # each class takes its own kind
