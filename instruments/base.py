"""The behaviour the three job-running drivers share.

Common wire commands (``<P>`` is the instrument's prefix: ``PROG``, ``DOSE`` or ``SCAN``):

=========================  ================================================================
``*IDN?``                  ``<maker>,<model>,<serial>,<firmware>``
``SYST:ERR?``              next error-queue entry ``<code>,"<message>"`` (``0,"No error"``)
``SYST:SYNC? <n>``         ``SYNC <n>`` (resynchronisation, see :mod:`instruments.scpi`)
``*CLS``                   clears the error queue; ``OK``
``*RST``, ``*ESR?`` ...    the other IEEE 488.2 common commands (:mod:`instruments.common`)
``<P>:RUN "<key>","<id>"`` starts the staged job; ``OK``. Idempotent on the device: a key it
                           holds already replies ``OK`` and starts nothing; ``ERR 201`` when it
                           holds another job; ``ERR 204`` when the key already ran
``<P>:STAT?``              ``<phase>,"<key>","<sample>",<seconds_left>[,<extras>...]``
``<P>:JOB? "<key>"``       the same fields for that job (phase ``unknown`` if never seen)
``<P>:ABOR``               stops the running job (no-op when none runs); ``OK``
=========================  ================================================================

Empty strings (``""``) stand for "none" in the status fields; ``seconds_left`` is in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from instruments.common import CommonCommands
from instruments.errors import GarbledReply, JobConflict
from instruments.limits import check_identifier
from instruments.protocol import InstrumentStatus
from instruments.scpi import ScpiClient, parse_error_reply, quote
from instruments.transport import Transport

__all__ = ["JobDriver", "check_same", "number"]

#: Device phases that map to a generic state of the same name; every other phase means busy.
_GENERIC = {"idle", "done", "aborted", "unloaded", "error", "unknown"}
#: Converts a status field to its value.
Field = tuple[str, Callable[[str], Any]]


def number(value: float) -> str:
    """``value`` as a SCPI number (shortest exact decimal, e.g. ``900.0``, ``0.02``)."""
    return repr(float(value))


def unquote(text: str) -> str:
    """``text`` without surrounding double quotes."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


class JobDriver(CommonCommands):
    """Base of the job-running drivers (the IEEE 488.2 common commands from :class:`CommonCommands`).

    Args:
        transport: the byte link to the device.
        name: the instrument's name (e.g. ``"furnace-1"``).
    """

    #: SCPI prefix of the job commands, set by subclasses.
    prefix = ""
    #: Extra fields of the status line after the four common ones, set by subclasses.
    extra_fields: Sequence[Field] = ()

    def __init__(self, transport: Transport, name: str) -> None:
        self.name = name
        self.scpi = ScpiClient(transport, name=name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, transport={self.scpi.transport!r})"

    def status(self) -> InstrumentStatus:
        """What the device holds now (``<P>:STAT?``)."""
        return self._parse_status(self.scpi.query(f"{self.prefix}:STAT?"))

    def job_status(self, job_key: str) -> InstrumentStatus:
        """What the device knows of ``job_key`` (``<P>:JOB?``); state ``unknown`` if it never saw it."""
        check_identifier("job_key", job_key)
        return self._parse_status(self.scpi.query(f"{self.prefix}:JOB? {quote(job_key)}"))

    def abort(self) -> None:
        """Stop the running job, if any (``<P>:ABOR``; safe to repeat)."""
        self.scpi.write(f"{self.prefix}:ABOR")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the device's error queue (``SYST:ERR?`` until ``0``); oldest first."""
        found: list[tuple[int, str]] = []
        for _ in range(256):
            code, message = parse_error_reply(self.scpi.query("SYST:ERR?"))
            if code == 0:
                return found
            found.append((code, message))
        return found

    def close(self) -> None:
        """Close the link to the device."""
        self.scpi.close()

    def __enter__(self) -> JobDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query_two_columns(self, query: str, job_key: str, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a finished job from ``<query> "<key>"``: a block of ``2N`` float64, ``x`` then ``y``."""
        payload = self.scpi.query_block(f"{query} {quote(check_identifier('job_key', job_key))}")
        if not payload or len(payload) % 16:
            raise GarbledReply(f"{self.name}: a {what} block of {len(payload)} bytes is not 2N float64 values")
        values = np.frombuffer(payload, dtype="<f8").astype(np.float64)
        half = values.size // 2
        return values[:half].copy(), values[half:].copy()

    def _start_job(self, job_key: str, sample_id: str, setpoints: Sequence[str],
                   check_held: Callable[[InstrumentStatus], None] | None = None) -> InstrumentStatus:
        """Start a job exactly once.

        If the device already knows ``job_key`` nothing is sent but ``<P>:JOB?``; its status is
        returned after ``check_held`` (which raises :class:`~instruments.errors.JobConflict` when
        the held job's parameters differ). Otherwise the setpoint commands and ``<P>:RUN`` go out.
        The device refuses another job while it holds one (``InstrumentBusy``).
        """
        held = self.job_status(job_key)
        if held.state != "unknown":
            if check_held is not None:
                check_held(held)
            return held
        for command in setpoints:
            self.scpi.write(command)
        self.scpi.write(f"{self.prefix}:RUN {quote(job_key)},{quote(sample_id)}")
        return self.job_status(job_key)

    def _parse_status(self, reply: str) -> InstrumentStatus:
        parts = reply.split(",")
        expected = 4 + len(self.extra_fields)
        if len(parts) != expected:
            raise GarbledReply(f"{self.name}: status reply {reply!r} has {len(parts)} fields, expected {expected} "
                               "(phase,\"key\",\"sample\",seconds_left"
                               + "".join(f",{n}" for n, _ in self.extra_fields) + ")")
        phase, key, sample, seconds = parts[0], unquote(parts[1]), unquote(parts[2]), parts[3]
        try:
            left = float(seconds)
            detail = {"phase": phase}
            detail.update({n: conv(unquote(v)) for (n, conv), v in zip(self.extra_fields, parts[4:])})
        except ValueError as exc:
            raise GarbledReply(f"{self.name}: status reply {reply!r} does not parse: {exc}") from exc
        if not phase.isidentifier():
            raise GarbledReply(f"{self.name}: status reply {reply!r} has no valid phase")
        state = phase if phase in _GENERIC else "busy"
        return InstrumentStatus(state=state, sample_id=sample or None, job_key=key or None,
                                seconds_left=left if state in ("busy", "done", "aborted", "unloaded") else None,
                                detail=detail)


def check_same(name: str, job_key: str, held: InstrumentStatus, wanted: Mapping[str, object]) -> None:
    """Raise :class:`JobConflict` when a known job's parameters differ from a repeated request.

    Args:
        name: the instrument's name.
        job_key: the job's idempotency key.
        held: the device's status of the job.
        wanted: the requested ``sample_id`` and detail values (floats compared to 1e-9).
    """
    for key, value in wanted.items():
        got = held.sample_id if key == "sample_id" else held.detail.get(key)
        same = (math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9)
                if isinstance(value, float) and isinstance(got, float) else got == value)
        if not same:
            raise JobConflict(f"job {job_key!r} is known to {name} with {key}={got!r}, "
                              f"but was asked again with {key}={value!r}")
