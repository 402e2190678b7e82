"""What the engine needs of every instrument, and the status it reconciles against.

Every driver in :mod:`instruments` satisfies :class:`Instrument`; the job-running ones (furnace,
dosing station, diffractometer) also satisfy :class:`JobInstrument`. After a restart the engine
asks each instrument what it holds (:meth:`Instrument.status`) and what it knows of each
dispatched job (:meth:`JobInstrument.job_status`): a job the device reports as ``unknown`` was
never started and may be sent again; any other state means it was started exactly once.

Generic states (``InstrumentStatus.state``); the device's own phase (``ramping``, ``dwelling``,
``scanning``...) is kept in ``detail["phase"]``:

==========  ==============================================================================
idle        holds no job
busy        a job is running (ramping, dwelling, dosing, scanning...)
done        the job finished; its result can be read (a furnace still holds the sample)
aborted     the job was stopped before it finished (a furnace still holds the sample)
unloaded    (furnace, ``job_status`` only) the job finished and its sample was taken out
error       the device reports a fault
unknown     (``job_status`` only) the device has no record of this job key
==========  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from lab.experiment import Measurement
from lab.instrument_kind import InstrumentKind

__all__ = ["STATES", "Instrument", "InstrumentStatus", "JobInstrument", "ResultSpec", "StepDriver"]

#: The generic states of :class:`InstrumentStatus`.
STATES = ("idle", "busy", "done", "aborted", "unloaded", "error", "unknown")


@dataclass(frozen=True)
class InstrumentStatus:
    """A snapshot of what an instrument holds.

    Attributes:
        state: one of :data:`STATES`.
        sample_id: the sample the job concerns, or None.
        job_key: the idempotency key of the job the device holds, or None.
        seconds_left: the device's estimate of the time to the end of the job (seconds), or None.
        detail: device-specific, JSON-able values (``phase``, temperatures in °C...).
    """

    state: str
    sample_id: str | None = None
    job_key: str | None = None
    seconds_left: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"instrument state {self.state!r} is not one of {', '.join(STATES)}")
        object.__setattr__(self, "detail", dict(self.detail))

    @property
    def holds_job(self) -> bool:
        """True when the device holds a job (running, finished or aborted)."""
        return self.state in ("busy", "done", "aborted")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (inverse of :meth:`from_dict`)."""
        return {
            "state": self.state,
            "sample_id": self.sample_id,
            "job_key": self.job_key,
            "seconds_left": self.seconds_left,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstrumentStatus:
        """Rebuild a status from :meth:`to_dict` output."""
        seconds = data.get("seconds_left")
        return cls(
            state=str(data["state"]),
            sample_id=data.get("sample_id"),
            job_key=data.get("job_key"),
            seconds_left=None if seconds is None else float(seconds),
            detail=dict(data.get("detail") or {}),
        )


@runtime_checkable
class Instrument(Protocol):
    """An instrument as the engine sees it."""

    name: str

    def identify(self) -> str:
        """The device's identity string (``*IDN?``)."""
        ...

    def status(self) -> InstrumentStatus:
        """What the device holds now."""
        ...

    def close(self) -> None:
        """Release the link to the device."""
        ...


@runtime_checkable
class JobInstrument(Instrument, Protocol):
    """An instrument that runs jobs identified by idempotency keys."""

    def job_status(self, job_key: str) -> InstrumentStatus:
        """What the device knows of ``job_key`` (state ``unknown`` when it never saw it)."""
        ...

    def abort(self) -> None:
        """Stop the running job, if any (safe to repeat)."""
        ...


@dataclass(frozen=True)
class ResultSpec:
    """One raw result a step yields, as its driver declares it.

    Attributes:
        name: the measurement's name in the ledger (``"xrd_pattern"``).
        units: units of its columns, comma-separated (``"deg,counts"``).
        columns: column names of a 2-D result (empty for a 1-D one).
        dtype: numpy dtype string of the stored array (``"<f8"``).
    """

    name: str
    units: str
    columns: tuple[str, ...] = ()
    dtype: str = "<f8"


@runtime_checkable
class StepDriver(JobInstrument, Protocol):
    """A job instrument that serves one kind of workflow step; the driver declares what it takes and yields.

    The engine knows no instrument by kind: it starts a step's ``command`` (a planned step's
    JSON-able mapping, see :func:`lab.workflow.plan_steps`) with :meth:`start_step`, estimates its
    duration with :meth:`step_duration_s`, reads its results with :meth:`collect_step` and lets
    the device go with :meth:`release_step`. Each is safe to repeat.
    """

    kind: ClassVar[InstrumentKind]
    results: ClassVar[tuple[ResultSpec, ...]]

    def start_step(self, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
        """Start the step's job exactly once (idempotent on the device by ``job_key``)."""
        ...

    def step_duration_s(self, command: Mapping[str, Any]) -> float:
        """The expected duration of the step (seconds); computed locally, no I/O."""
        ...

    def collect_step(self, job_key: str) -> list[Measurement]:
        """The finished job's raw results, whole, one per :attr:`results` entry."""
        ...

    def release_step(self, job_key: str) -> None:
        """Let the device go after its results are stored (a furnace unloads the sample)."""
        ...
