"""Instrument commands as Prefect tasks: the engine's only way to the drivers.

Every command that acts on an instrument (start, collect, release, abort) goes through
:func:`call`, a Prefect task run named after the instrument and command. Infrastructure trouble
(time-outs, garbled replies, dropped connections) raises inside the task, so Prefect retries it
with back-off; a device's refusal (an error reply, a limit violation, a busy instrument) is not
worth retrying and comes back as a value that :func:`call` re-raises after the task, so it costs no
retries.

A status read (:func:`job_status`) changes nothing on the device and is repeated every round for
every step in flight: as task runs, the reads would be most of the Prefect server's work (392 of
608 instrument calls in a simulated 24-experiment BaTiO3 campaign; more where many campaigns share
a lab) and bury the commands in its UI. They are retried here, with the same back-off, and what
they find is in the ledger when it matters (an acknowledged step, a finished job, a loss).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from prefect import task
from prefect.cache_policies import NO_CACHE

from instruments.errors import (
    GarbledReply,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
    PortUnavailable,
)
from instruments.protocol import InstrumentStatus, StepDriver
from lab.experiment import Measurement

R = TypeVar("R")


class _NoInstrumentTracebacks(logging.Filter):
    """Drop the traceback from Prefect's log record of a task that failed with an instrument error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InstrumentError):
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("prefect.task_runs").addFilter(_NoInstrumentTracebacks())

__all__ = ["collect", "call", "expected_duration_s", "job_status", "release", "start"]


#: Infrastructure trouble worth retrying; every other instrument error is a refusal.
TRANSIENT = (InstrumentTimeout, GarbledReply, InstrumentConnectionError)


@dataclass(frozen=True)
class _Refused:
    error: InstrumentError


@task(name="instrument", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20], persist_result=False)
def _instrument_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return fn(*args)
    except PortUnavailable as exc:
        return _Refused(exc)  # a port that cannot be opened will not open in 26 s: the caller backs off
    except TRANSIENT:
        raise  # Prefect retries these
    except InstrumentError as exc:
        return _Refused(exc)


#: Back-off between retries in seconds; a simulated lab sets these to zero (no real waiting).
RETRY_DELAYS: list[float] = [1.0, 5.0, 20.0]


def call(command: Callable[..., R], *args: Any) -> R:
    """Run a driver's bound ``command(*args)`` as a retried Prefect task named ``<instrument>.<command>``;
    re-raise refusals."""
    owner = getattr(command, "__self__", None)
    runner = _instrument_task.with_options(
        task_run_name=f"{getattr(owner, 'name', '?')}.{getattr(command, '__name__', 'call')}",
        retry_delay_seconds=list(RETRY_DELAYS))
    result = runner(command, args)
    if isinstance(result, _Refused):
        raise result.error
    return cast(R, result)  # a sync task returns what ``command`` returned (Prefect types it as a coroutine too)


def job_status(instrument: StepDriver, job_key: str) -> InstrumentStatus:
    """Read a job's state from its instrument, retrying infrastructure trouble as :func:`call` does.

    Raises:
        InstrumentError: the device refused, or the trouble outlasted the retries.
    """
    for delay in RETRY_DELAYS:
        try:
            return instrument.job_status(job_key)
        except TRANSIENT:
            time.sleep(delay)
    return instrument.job_status(job_key)  # the last try: its trouble is raised


def start(instrument: StepDriver, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
    """Start one step's job (idempotent on the device by ``job_key``)."""
    return call(instrument.start_step, job_key, sample_id, dict(command))


def expected_duration_s(instrument: StepDriver, command: Mapping[str, Any]) -> float:
    """The driver's estimate of a step's duration (seconds); computed locally, no I/O."""
    return float(instrument.step_duration_s(command))


def collect(instrument: StepDriver, job_key: str) -> list[Measurement]:
    """Read a finished job's raw results, whole."""
    return call(instrument.collect_step, job_key)


def release(instrument: StepDriver, job_key: str) -> None:
    """Free the instrument after its results are stored (a furnace gives its sample back)."""
    call(instrument.release_step, job_key)
