"""Box furnace driver: ramp, dwell and cool a sample under an atmosphere.

Wire protocol (ASCII lines ending in ``\\n``; every line gets one reply; conventions in
:mod:`instruments.scpi`, common commands in :mod:`instruments.base`; prefix ``PROG``):

==============================  =============================================================
``*IDN?``                       ``LabSim,BoxFurnace-1400,<serial>,<firmware>``
``SOUR:TEMP <°C>``              stage the dwell temperature; ``OK``
``SOUR:RAMP <°C/min>``          stage the heating rate; ``OK``
``PROG:DWEL <h>``               stage the dwell time (hours); ``OK``
``SOUR:ATM <name>``             stage the atmosphere (``air``, ``O2``, ``N2``, ``Ar``); ``OK``
``PROG:RUN "<key>","<id>"``     start the staged program for sample ``<id>``; ``OK``
``PROG:STAT?``                  ``<phase>,"<key>","<id>",<s_left>,<T °C>,<set °C>,<dwell h>,``
                                ``<ramp °C/min>,"<atm>"``; phases ``idle``, ``ramping``,
                                ``dwelling``, ``cooling``, ``done``, ``aborted``
``PROG:JOB? "<key>"``           the same for that job; ``unloaded`` after unloading,
                                ``unknown`` if never seen
``PROG:LOG?`` / ``PROG:LOG? "<key>"``
                                temperature log of the held (or named) job: a definite-length
                                block of little-endian float64 pairs ``(time_h, temp_c)``,
                                row-major, one row per minute of program time so far
``PROG:UNL "<key>"``            take the sample out of a finished or aborted program; replies
                                the sample id ``"<id>"``; repeating it replies the same id
``PROG:ABOR``                   stop heating; the program becomes ``aborted``; ``OK``
==============================  =============================================================

The furnace holds one program at a time, and a finished or aborted program keeps its sample in
the furnace until ``PROG:UNL``: until then ``PROG:RUN`` of another key fails with ``ERR 201``.
Error codes are listed in :mod:`instruments.errors`.

Program timing (used by :func:`anneal_duration_s` and by the simulator): heat from
:data:`ROOM_TEMPERATURE_C` at the ramp rate, dwell, then cool at :data:`COOL_C_PER_MIN` down to
:data:`UNLOAD_TEMPERATURE_C`, when the program is ``done``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from instruments.base import JobDriver, check_same, number
from instruments.errors import GarbledReply
from instruments.limits import Problem, check_choice, check_identifier, check_range, problems_of, raise_first
from instruments.protocol import InstrumentStatus, ResultSpec
from instruments.scpi import quote
from instruments.transport import Transport
from lab.experiment import Measurement
from lab.instrument_kind import InstrumentKind

__all__ = [
    "COOL_C_PER_MIN",
    "ROOM_TEMPERATURE_C",
    "UNLOAD_TEMPERATURE_C",
    "BoxFurnace",
    "FurnaceLimits",
    "anneal_duration_s",
    "program_problems",
]

#: Temperature at the start of every program (°C).
ROOM_TEMPERATURE_C = 25.0
#: Furnace cooling rate after the dwell (°C/min), with the door closed.
COOL_C_PER_MIN = 5.0
#: Temperature at which a program is done and the sample can be taken out (°C).
UNLOAD_TEMPERATURE_C = 100.0


def anneal_duration_s(temperature_c: float, dwell_h: float, ramp_c_per_min: float) -> float:
    """Duration of a furnace program (seconds): ramp up, dwell, cool to the unload temperature.

    Args:
        temperature_c: dwell temperature (°C).
        dwell_h: dwell time (hours).
        ramp_c_per_min: heating rate (°C/min).
    """
    ramp_min = max(temperature_c - ROOM_TEMPERATURE_C, 0.0) / ramp_c_per_min
    cool_min = max(temperature_c - UNLOAD_TEMPERATURE_C, 0.0) / COOL_C_PER_MIN
    return (ramp_min + cool_min) * 60.0 + dwell_h * 3600.0


@dataclass(frozen=True)
class FurnaceLimits:
    """What the driver lets through (checked before any byte is sent).

    Attributes:
        max_temperature_c: highest dwell temperature (°C).
        min_temperature_c: lowest dwell temperature (°C).
        max_ramp_c_per_min: fastest heating rate (°C/min).
        min_ramp_c_per_min: slowest heating rate (°C/min).
        min_dwell_h: shortest dwell (hours).
        max_dwell_h: longest dwell (hours).
        atmospheres: the gases the furnace is plumbed for.
    """

    max_temperature_c: float = 1400.0
    min_temperature_c: float = 100.0
    max_ramp_c_per_min: float = 10.0
    min_ramp_c_per_min: float = 0.5
    min_dwell_h: float = 0.5
    max_dwell_h: float = 24.0
    atmospheres: tuple[str, ...] = ("air", "O2", "N2", "Ar")


def program_problems(limits: FurnaceLimits, temperature_c: float, dwell_h: float, ramp_c_per_min: float,
                     atmosphere: str) -> list[Problem]:
    """Every way a furnace program breaks ``limits`` (no transport needed); empty when it is allowed.

    Args:
        limits: what the furnace lets through.
        temperature_c: dwell temperature (°C).
        dwell_h: dwell time (hours).
        ramp_c_per_min: heating rate (°C/min).
        atmosphere: furnace gas.

    Returns:
        ``(argument, message)`` pairs, in the order :meth:`BoxFurnace.check_program` checks them.

    Example:
        >>> program_problems(FurnaceLimits(), 1500.0, 4.0, 5.0, "vacuum")[0][1]
        'temperature_c=1500.0 °C is outside the allowed range 100.0..1400.0 °C'
    """
    lim = limits
    return problems_of(
        ("temperature_c", lambda: check_range("temperature_c", temperature_c, lim.min_temperature_c,
                                              lim.max_temperature_c, "°C")),
        ("dwell_h", lambda: check_range("dwell_h", dwell_h, lim.min_dwell_h, lim.max_dwell_h, "h")),
        ("ramp_c_per_min", lambda: check_range("ramp_c_per_min", ramp_c_per_min, lim.min_ramp_c_per_min,
                                               lim.max_ramp_c_per_min, "°C/min")),
        ("atmosphere", lambda: check_choice("atmosphere", atmosphere, lim.atmospheres)),
    )


class BoxFurnace(JobDriver):
    """Driver of a box furnace (protocol in the module docstring).

    Args:
        transport: the byte link to the furnace.
        limits: what the driver lets through.
        name: the instrument's name.
    """

    prefix = "PROG"
    kind: ClassVar[InstrumentKind] = InstrumentKind.FURNACE
    results: ClassVar[tuple[ResultSpec, ...]] = (ResultSpec("temperature_log", "h,°C", ("time_h", "temperature_c")),)
    extra_fields = (("temperature_c", float), ("setpoint_c", float), ("dwell_h", float),
                    ("ramp_c_per_min", float), ("atmosphere", str))

    def __init__(self, transport: Transport, limits: FurnaceLimits = FurnaceLimits(), name: str = "furnace-1") -> None:
        super().__init__(transport, name)
        self.limits = limits

    def check_program(self, temperature_c: float, dwell_h: float, ramp_c_per_min: float, atmosphere: str) -> None:
        """Raise :class:`~instruments.errors.LimitViolation` if the program is outside the limits."""
        raise_first(program_problems(self.limits, temperature_c, dwell_h, ramp_c_per_min, atmosphere))

    @staticmethod
    def step_problems(command: Mapping[str, Any], limits: FurnaceLimits) -> list[Problem]:
        """What :meth:`start_step` would refuse in ``command`` under ``limits``, without a transport."""
        return program_problems(limits, command["temperature_c"], command["dwell_h"], command["ramp_c_per_min"],
                                command["atmosphere"])

    def start_program(self, job_key: str, sample_id: str, temperature_c: float, dwell_h: float,
                      ramp_c_per_min: float, atmosphere: str = "air") -> InstrumentStatus:
        """Start an anneal exactly once and return the furnace's status for it.

        Idempotent: if the furnace already knows ``job_key`` (running, done, aborted or
        unloaded) nothing starts and its status is returned.

        Args:
            job_key: the step's idempotency key.
            sample_id: the sample put in the furnace.
            temperature_c: dwell temperature (°C).
            dwell_h: dwell time (hours).
            ramp_c_per_min: heating rate (°C/min).
            atmosphere: furnace gas, one of ``limits.atmospheres``.

        Raises:
            LimitViolation: a value is outside the limits (nothing was sent).
            InstrumentBusy: the furnace holds another job.
            JobConflict: ``job_key`` is known with other parameters.
        """
        check_identifier("job_key", job_key)
        check_identifier("sample_id", sample_id)
        self.check_program(temperature_c, dwell_h, ramp_c_per_min, atmosphere)
        setpoints = [f"SOUR:TEMP {number(temperature_c)}", f"SOUR:RAMP {number(ramp_c_per_min)}",
                     f"PROG:DWEL {number(dwell_h)}", f"SOUR:ATM {atmosphere}"]
        wanted = {"sample_id": sample_id, "setpoint_c": float(temperature_c), "dwell_h": float(dwell_h),
                  "ramp_c_per_min": float(ramp_c_per_min), "atmosphere": atmosphere}
        return self._start_job(job_key, sample_id, setpoints, lambda held: check_same(self.name, job_key, held, wanted))

    def expected_duration_s(self, temperature_c: float, dwell_h: float, ramp_c_per_min: float) -> float:
        """Duration of the program (seconds); see :func:`anneal_duration_s`."""
        return anneal_duration_s(temperature_c, dwell_h, ramp_c_per_min)

    def temperature_log(self, job_key: str | None = None) -> np.ndarray:
        """The temperature log of the held job, or of ``job_key``.

        Returns:
            An ``(N, 2)`` float64 array of ``(time_h, temp_c)`` rows: hours since the program
            started, furnace temperature (°C).
        """
        command = "PROG:LOG?" if job_key is None else f"PROG:LOG? {quote(check_identifier('job_key', job_key))}"
        payload = self.scpi.query_block(command)
        if len(payload) % 16:
            raise GarbledReply(f"{self.name}: temperature log of {len(payload)} bytes is not a whole number "
                               "of (time_h, temp_c) float64 pairs")
        return np.frombuffer(payload, dtype="<f8").reshape(-1, 2).astype(np.float64)

    def unload(self, job_key: str) -> str:
        """Take the sample of ``job_key`` out of the furnace; return its sample id.

        Idempotent: unloading an already-unloaded job returns the same id.

        Raises:
            InstrumentBusy: the program is still running (abort it first).
            UnknownJob: the furnace has no record of ``job_key``.
        """
        reply = self.scpi.query(f"PROG:UNL {quote(check_identifier('job_key', job_key))}")
        sample = reply[1:-1] if len(reply) >= 2 and reply[0] == reply[-1] == '"' else ""
        if not sample:
            raise GarbledReply(f'{self.name}: expected a quoted sample id after PROG:UNL, got {reply!r}')
        return sample

    # -- the workflow step this driver serves (instruments.protocol.StepDriver) ------------------
    def start_step(self, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
        """Start the step's anneal: ``temperature_c``, ``dwell_h``, ``ramp_c_per_min``, ``atmosphere``."""
        return self.start_program(job_key, sample_id, command["temperature_c"], command["dwell_h"],
                                  command["ramp_c_per_min"], command["atmosphere"])

    def step_duration_s(self, command: Mapping[str, Any]) -> float:
        """Duration of the step's program, ramps included (seconds)."""
        return self.expected_duration_s(command["temperature_c"], command["dwell_h"], command["ramp_c_per_min"])

    def collect_step(self, job_key: str) -> list[Measurement]:
        """The job's temperature log: columns time (h) and temperature (°C)."""
        log = np.asarray(self.temperature_log(job_key), dtype="<f8")
        return [Measurement.from_array("temperature_log", log, units="h,°C", instrument=self.name,
                                       meta={"columns": ["time_h", "temperature_c"]})]

    def release_step(self, job_key: str) -> None:
        """Take the sample out (see :meth:`unload`)."""
        self.unload(job_key)
