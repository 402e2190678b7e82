"""Instrument commands as Prefect tasks, and what each step kind sends and collects.

Every call to an instrument goes through :func:`call`, a Prefect task run named after the
instrument and command. Infrastructure trouble (time-outs, garbled replies, dropped connections)
raises inside the task, so Prefect retries it with back-off; a device's refusal (an error reply, a
limit violation, a busy instrument) is not worth retrying and comes back as a value that
:func:`call` re-raises after the task, so it costs no retries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from instruments.errors import (
    GarbledReply,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
)
from lab.experiment import Measurement

__all__ = ["collect", "call", "expected_duration_s", "release", "start"]


#: Infrastructure trouble worth retrying; every other instrument error is a refusal.
TRANSIENT = (InstrumentTimeout, GarbledReply, InstrumentConnectionError)


@dataclass(frozen=True)
class _Refused:
    error: InstrumentError


@task(name="instrument", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20], persist_result=False)
def _instrument_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return fn(*args)
    except TRANSIENT:
        raise  # Prefect retries these
    except InstrumentError as exc:
        return _Refused(exc)


#: Back-off between retries in seconds; a simulated lab sets these to zero (no real waiting).
RETRY_DELAYS: list[float] = [1.0, 5.0, 20.0]


def call(instrument: Any, method: str, *args: Any) -> Any:
    """Run ``instrument.method(*args)`` as a retried Prefect task; re-raise refusals."""
    bound = getattr(instrument, method)
    runner = _instrument_task.with_options(
        task_run_name=f"{instrument.name}.{method}", retry_delay_seconds=list(RETRY_DELAYS))
    result = runner(bound, args)
    if isinstance(result, _Refused):
        raise result.error
    return result


def start(kind: str, instrument: Any, job_key: str, sample_id: str, command: Mapping[str, Any]) -> Any:
    """Start one step's job (idempotent on the device by ``job_key``)."""
    if kind == "dosing":
        return call(instrument, "start_dose", job_key, sample_id, dict(command["masses_mg"]))
    if kind == "furnace":
        return call(instrument, "start_program", job_key, sample_id, command["temperature_c"], command["dwell_h"],
                    command["ramp_c_per_min"], command["atmosphere"])
    if kind == "xrd":
        return call(instrument, "start_scan", job_key, sample_id, command["start_deg"], command["stop_deg"], command["step_deg"])
    raise ValueError(f"unknown instrument kind {kind!r}; expected dosing, furnace or xrd")


def expected_duration_s(kind: str, instrument: Any, command: Mapping[str, Any]) -> float:
    """The driver's estimate of a step's duration (seconds); computed locally, no I/O."""
    if kind == "dosing":
        return float(instrument.expected_duration_s(dict(command["masses_mg"])))
    if kind == "furnace":
        return float(instrument.expected_duration_s(command["temperature_c"], command["dwell_h"], command["ramp_c_per_min"]))
    if kind == "xrd":
        return float(instrument.expected_duration_s(command["start_deg"], command["stop_deg"], command["step_deg"]))
    raise ValueError(f"unknown instrument kind {kind!r}; expected dosing, furnace or xrd")


def collect(kind: str, instrument: Any, job_key: str) -> list[Measurement]:
    """Read a finished job's raw results, whole."""
    name = instrument.name
    if kind == "dosing":
        masses = call(instrument, "result", job_key)
        names = sorted(masses)
        return [Measurement.from_array("dosed_mg", np.array([masses[k] for k in names], dtype="<f8"), units="mg",
                                       instrument=name, meta={"precursors": names})]
    if kind == "furnace":
        log = np.asarray(call(instrument, "temperature_log", job_key), dtype="<f8")
        return [Measurement.from_array("temperature_log", log, units="h,°C", instrument=name,
                                       meta={"columns": ["time_h", "temperature_c"]})]
    if kind == "xrd":
        two_theta, counts = call(instrument, "fetch_pattern", job_key)
        pattern = np.stack([np.asarray(two_theta, "<f8"), np.asarray(counts, "<f8")], axis=1)
        return [Measurement.from_array("xrd_pattern", pattern, units="deg,counts", instrument=name,
                                       meta={"columns": ["two_theta_deg", "counts"], "radiation": "CuKa"})]
    raise ValueError(f"unknown instrument kind {kind!r}; expected dosing, furnace or xrd")


def release(kind: str, instrument: Any, job_key: str) -> None:
    """Free the instrument after its results are stored (a furnace gives its sample back)."""
    if kind == "furnace":
        call(instrument, "unload", job_key)
