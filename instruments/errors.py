"""Typed instrument errors, and the one place where low-level failures become them.

Tree::

    InstrumentError                         root of every error raised by :mod:`instruments`
     +-- InstrumentTimeout (TimeoutError)    no (complete) reply within the transport timeout
     +-- InstrumentConnectionError (ConnectionError)
     |    |                                  port unreachable, or the link dropped mid-exchange
     |    +-- PortUnavailable                the port cannot be opened at all (no such device,
     |                                       connection refused): retrying at once will not help
     +-- GarbledReply (ValueError)           a reply arrived but does not parse
     +-- LimitViolation (ValueError)         refused by the driver before any byte was sent
     +-- JobConflict (ValueError)            a job key is reused with different parameters
     +-- ReplayMismatch (AssertionError)     a driver under replay wrote something unrecorded
     +-- DeviceError                         the device's own error reply ``ERR <code>,"<msg>"``
          +-- CommandError                   codes -199..-100 (but -222): the device did not
          |                                  understand the command or a parameter
          +-- DeviceLimitError (ValueError)  code -222: a value outside the device's own range
          +-- InstrumentBusy                 code 201: the device holds another job
          +-- UnknownJob (KeyError)          code 202: the device has no record of the job key
          +-- NotReady                       code 203: the job's result is not available yet
          +-- JobAlreadyRun                  code 204: the job key was already run and finished
          +-- JobAborted                     code 205: the job was aborted, it has no result
          +-- HardwareFault                  codes 500..599: the device reports a fault

Retrying is safe for :class:`InstrumentTimeout`, :class:`InstrumentConnectionError` and
:class:`GarbledReply` because every public driver command is idempotent; the other errors need a
decision (fix the request, wait, or give up on the step).

:func:`map_transport_error` (used through :func:`translated`) maps pyserial, socket, OS and
decoding exceptions; :func:`device_error` maps device error codes. Nothing else maps errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import serial

__all__ = [
    "CommandError",
    "DeviceError",
    "DeviceLimitError",
    "GarbledReply",
    "HardwareFault",
    "InstrumentBusy",
    "InstrumentConnectionError",
    "InstrumentError",
    "InstrumentTimeout",
    "JobAborted",
    "JobAlreadyRun",
    "JobConflict",
    "LimitViolation",
    "NotReady",
    "PortUnavailable",
    "ReplayMismatch",
    "UnknownJob",
    "device_error",
    "map_transport_error",
    "translated",
]


class InstrumentError(Exception):
    """Root of every error raised by :mod:`instruments`."""


class InstrumentTimeout(InstrumentError, TimeoutError):
    """The device did not send a complete reply within the transport timeout."""


class InstrumentConnectionError(InstrumentError, ConnectionError):
    """The port could not be opened, or the link dropped; the transport reconnects on next use."""


class PortUnavailable(InstrumentConnectionError):
    """The port could not be opened (no such device, connection refused); try again later, not now."""


class GarbledReply(InstrumentError, ValueError):
    """A reply arrived but is not valid ASCII or does not have the documented shape."""


class LimitViolation(InstrumentError, ValueError):
    """A command refused by the driver before any byte was sent.

    The message names the parameter, the value and the allowed range or set.
    """


class JobConflict(InstrumentError, ValueError):
    """A job key the device already knows was sent again with different parameters."""


class ReplayMismatch(InstrumentError, AssertionError):
    """Under :class:`instruments.recording.ReplayTransport`, the driver deviated from the recording."""


class DeviceError(InstrumentError):
    """An error reported by the device itself (``ERR <code>,"<message>"``).

    Attributes:
        code: the device's error code (SCPI negative codes, device codes >= 200).
        message: the device's message text.
    """

    def __init__(self, code: int, message: str) -> None:
        self.code = int(code)
        self.message = message
        super().__init__(f"device error {self.code}: {message}")

    def __reduce__(self) -> tuple[type, tuple[int, str]]:
        return (type(self), (self.code, self.message))


class CommandError(DeviceError):
    """SCPI codes -100..-199 (except -222): unknown command, missing or malformed parameter."""


class DeviceLimitError(DeviceError, ValueError):
    """SCPI code -222: the device refused a value outside its own range."""


class InstrumentBusy(DeviceError):
    """Code 201: the device holds another job (running, or finished and not yet unloaded)."""


class UnknownJob(DeviceError, KeyError):
    """Code 202: the device has no record of the job key."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return f"device error {self.code}: {self.message}"


class NotReady(DeviceError):
    """Code 203: the job exists but its result is not available yet."""


class JobAlreadyRun(DeviceError):
    """Code 204: the job key was already run to the end; it is never run twice."""


class JobAborted(DeviceError):
    """Code 205: the job was aborted before it finished, so it has no result."""


class HardwareFault(DeviceError):
    """Codes 500..599: the device reports a hardware fault."""


_BY_CODE: dict[int, type[DeviceError]] = {
    -222: DeviceLimitError,
    201: InstrumentBusy,
    202: UnknownJob,
    203: NotReady,
    204: JobAlreadyRun,
    205: JobAborted,
}


def device_error(code: int, message: str) -> DeviceError:
    """The typed :class:`DeviceError` for a device error code.

    Args:
        code: the code from the device's ``ERR`` reply or ``SYST:ERR?`` queue.
        message: the device's message text.
    """
    if code in _BY_CODE:
        return _BY_CODE[code](code, message)
    if -199 <= code <= -100:
        return CommandError(code, message)
    if 500 <= code <= 599:
        return HardwareFault(code, message)
    return DeviceError(code, message)


def map_transport_error(exc: BaseException, where: str) -> InstrumentError:
    """Map a low-level exception to the typed :class:`InstrumentError` it means.

    Args:
        exc: the exception raised by pyserial, a socket, the OS or a decoder.
        where: what was being done, e.g. ``"furnace-1: reading reply to PROG:STAT?"``.

    Returns:
        The error to raise (``raise map_transport_error(exc, where) from exc``);
        an :class:`InstrumentError` is returned unchanged.
    """
    if isinstance(exc, InstrumentError):
        return exc
    text = f"{where}: {exc}"
    if isinstance(exc, (serial.SerialTimeoutException, TimeoutError)):
        return InstrumentTimeout(text)
    if isinstance(exc, UnicodeError):
        return GarbledReply(f"{where}: bytes that are not ASCII ({exc})")
    if isinstance(exc, (serial.SerialException, OSError, EOFError)):
        return InstrumentConnectionError(text)
    return InstrumentError(text)


#: The low-level exceptions that :func:`translated` maps; anything else is a bug and propagates.
LOW_LEVEL_ERRORS: tuple[type[BaseException], ...] = (
    serial.SerialException,
    OSError,
    EOFError,
    UnicodeError,
)


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Context manager that re-raises low-level exceptions as typed instrument errors.

    Args:
        where: what is being done, for the error message.
    """
    try:
        yield
    except LOW_LEVEL_ERRORS as exc:
        raise map_transport_error(exc, where) from exc
