"""Device side of the box furnace protocol (documented in :mod:`instruments.furnace`).

The program's temperature follows the documented timing exactly (:func:`anneal_duration_s`):
linear ramp from room temperature, dwell, linear cooling at ``COOL_C_PER_MIN`` to the unload
temperature, then slower natural cooling. The log is sampled every minute with ±0.3 °C of
seeded thermocouple noise.

The completed anneal is recorded into the shared :class:`~simulators.samples.SampleTray` when
the furnace notices the end of the program: on the first command it receives after the end
(a status query, the log, an unload...). Aborted or stuck programs record nothing.
"""

from __future__ import annotations

import zlib

import numpy as np

from instruments.furnace import (
    COOL_C_PER_MIN,
    ROOM_TEMPERATURE_C,
    UNLOAD_TEMPERATURE_C,
    FurnaceLimits,
    anneal_duration_s,
)
from lab.clock import Clock
from simulators.device import (
    DeviceRefusal,
    Handler,
    encode_block,
    want_args,
    want_number,
)
from simulators.faults import FaultInjector, FaultPlan
from simulators.jobs import Job, JobDevice
from simulators.samples import AnnealRecord, SampleTray

__all__ = ["FurnaceSimulator"]

#: Temperature log interval (seconds of program time).
LOG_INTERVAL_S = 60.0
#: Natural cooling below the unload temperature (°C/min).
SLOW_COOL_C_PER_MIN = 1.0


def _staged_number(params: dict[str, float | str], key: str) -> float:
    """The staged setpoint ``key``, a number (only the atmosphere is staged as text)."""
    value = params[key]
    if not isinstance(value, float):
        raise TypeError(f"staged setpoint {key} should be a number, got {value!r}")
    return value


def program_temperature(params: dict[str, float], t_s: float) -> float:
    """Furnace temperature (°C) ``t_s`` seconds into a program that ran normally."""
    setpoint, ramp, dwell_s = params["temperature_c"], params["ramp_c_per_min"], params["dwell_h"] * 3600.0
    ramp_s = max(setpoint - ROOM_TEMPERATURE_C, 0.0) / ramp * 60.0
    if t_s < ramp_s:
        return ROOM_TEMPERATURE_C + ramp * t_s / 60.0
    if t_s < ramp_s + dwell_s:
        return setpoint
    cooled = setpoint - COOL_C_PER_MIN * (t_s - ramp_s - dwell_s) / 60.0
    if cooled >= UNLOAD_TEMPERATURE_C:
        return cooled
    cool_s = max(setpoint - UNLOAD_TEMPERATURE_C, 0.0) / COOL_C_PER_MIN * 60.0
    slow = UNLOAD_TEMPERATURE_C - SLOW_COOL_C_PER_MIN * (t_s - ramp_s - dwell_s - cool_s) / 60.0
    return max(slow, ROOM_TEMPERATURE_C)


def job_temperature(job: Job, t_s: float) -> float:
    """Temperature (°C) ``t_s`` seconds after ``job`` started, with stuck and aborted programs."""
    if job.stuck_at_s is not None and t_s >= job.stuck_at_s:
        return program_temperature(job.params, job.stuck_at_s)
    if job.stopped_at_s is not None and t_s > job.stopped_at_s:
        at_stop = program_temperature(job.params, job.stopped_at_s)
        return max(at_stop - COOL_C_PER_MIN * (t_s - job.stopped_at_s) / 60.0, ROOM_TEMPERATURE_C)
    return program_temperature(job.params, t_s)


class FurnaceSimulator(JobDevice):
    """A simulated box furnace.

    Args:
        name: the instrument's name.
        clock: the time it lives on.
        tray: the shared sample tray (anneals are recorded there).
        faults: a fault plan or injector.
        limits: the furnace's own hard limits (refused with ``ERR -222`` beyond them).
        seed: seed of the thermocouple noise.
    """

    model = "BoxFurnace-1400"
    prefix = "PROG"
    volatile = ("staged",)
    holds_after_done = True

    def __init__(self, name: str, clock: Clock, tray: SampleTray, faults: FaultPlan | FaultInjector | None = None,
                 limits: FurnaceLimits = FurnaceLimits(), seed: int = 0) -> None:
        self.tray = tray
        self.limits = limits
        self.seed = seed
        self.staged: dict[str, float | str] = {}
        super().__init__(name, clock, faults)

    def handlers(self) -> dict[str, Handler]:
        return {
            **super().handlers(),
            "SOUR:TEMP": self._stage_number("temperature_c", "SOUR:TEMP", 0.0, self.limits.max_temperature_c, "degC"),
            "SOUR:RAMP": self._stage_number("ramp_c_per_min", "SOUR:RAMP", 0.01, self.limits.max_ramp_c_per_min,
                                            "degC/min"),
            "PROG:DWEL": self._stage_number("dwell_h", "PROG:DWEL", 0.0, self.limits.max_dwell_h, "h"),
            "SOUR:ATM": self._stage_atmosphere,
            "PROG:LOG?": self._log,
            "PROG:UNL": self._unload,
        }

    def _stage_number(self, key: str, header: str, low: float, high: float, unit: str) -> Handler:
        """A handler that stages ``key`` from a number in ``[low, high]``."""
        def stage(args: list[str]) -> str:
            (text,) = want_args(args, 1, f"{header} <{unit}>")
            self.staged[key] = want_number(text, header, low, high, unit)
            return "OK"
        return stage

    def _stage_atmosphere(self, args: list[str]) -> str:
        (gas,) = want_args(args, 1, "SOUR:ATM <gas>")
        if gas not in self.limits.atmospheres:
            raise DeviceRefusal(-224, f"Illegal parameter value: atmosphere {gas} "
                                      f"(plumbed: {' '.join(self.limits.atmospheres)})")
        self.staged["atmosphere"] = gas
        return "OK"

    def new_job(self, key: str, sample_id: str) -> Job:
        needed = {"temperature_c": "SOUR:TEMP", "ramp_c_per_min": "SOUR:RAMP", "dwell_h": "PROG:DWEL",
                  "atmosphere": "SOUR:ATM"}
        missing = [cmd for name, cmd in needed.items() if name not in self.staged]
        if missing:
            raise DeviceRefusal(-109, f"Missing setpoint(s) before PROG:RUN: {' '.join(missing)}")
        params, self.staged = dict(self.staged), {}
        duration = anneal_duration_s(_staged_number(params, "temperature_c"), _staged_number(params, "dwell_h"),
                                     _staged_number(params, "ramp_c_per_min"))
        return Job(key, sample_id, self.clock.now(), duration, params)

    def running_phase(self, job: Job, elapsed_s: float) -> str:
        p = job.params
        ramp_s = max(p["temperature_c"] - ROOM_TEMPERATURE_C, 0.0) / p["ramp_c_per_min"] * 60.0
        if elapsed_s < ramp_s:
            return "ramping"
        return "dwelling" if elapsed_s < ramp_s + p["dwell_h"] * 3600.0 else "cooling"

    def extras(self, job: Job | None) -> list[str]:
        if job is None:
            return [f"{ROOM_TEMPERATURE_C:.1f}", "0.0", "0.0", "0.0", '""']
        now_s = max((self.clock.now() - job.started).total_seconds(), 0.0)
        p = job.params
        return [f"{job_temperature(job, now_s):.1f}", repr(p["temperature_c"]), repr(p["dwell_h"]),
                repr(p["ramp_c_per_min"]), f'"{p["atmosphere"]}"']

    def on_finish(self, job: Job) -> None:
        p = job.params
        self.tray.record_anneal(job.sample_id, AnnealRecord(p["temperature_c"], p["dwell_h"],
                                                            p["ramp_c_per_min"], p["atmosphere"]))

    def temperature_log(self, job: Job) -> np.ndarray:
        """``(N, 2)`` rows of ``(time_h, temp_c)`` every minute of the program so far."""
        span = min(max((self.clock.now() - job.started).total_seconds(), 0.0), job.duration_s)
        times = np.arange(0.0, span + 1e-9, LOG_INTERVAL_S)
        rng = np.random.default_rng([self.seed, zlib.crc32(job.key.encode())])
        temps = np.array([job_temperature(job, t) for t in times]) + rng.normal(0.0, 0.3, times.size)
        return np.column_stack([times / 3600.0, temps])

    def _log(self, args: list[str]) -> bytes:
        if args:
            (key,) = want_args(args, 1, 'PROG:LOG? ["<key>"]')
            job = self.job_of(key)
        elif self.current is None:
            raise DeviceRefusal(202, "No program held; name a job: PROG:LOG? \"<key>\"")
        else:
            job = self.current
        return encode_block(self.temperature_log(job).astype("<f8").tobytes())

    def _unload(self, args: list[str]) -> str:
        (key,) = want_args(args, 1, 'PROG:UNL "<key>"')
        job = self.job_of(key)
        if not job.unloaded:
            phase = self.phase(job)
            if phase not in ("done", "aborted"):
                raise DeviceRefusal(201, f"Busy: program {key} is {phase}; abort it before unloading")
            job.unloaded = True
            if self.current is job:
                self.current = None
        return f'"{job.sample_id}"'
