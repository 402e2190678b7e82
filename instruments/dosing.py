"""Powder dosing station driver: doses precursors by mass into a sample vial on a balance.

Wire protocol (ASCII lines ending in ``\\n``; every line gets one reply; conventions in
:mod:`instruments.scpi`, common commands in :mod:`instruments.base`; prefix ``DOSE``):

==============================  =============================================================
``*IDN?``                       ``LabSim,PowderDoser-2,<serial>,<firmware>``
``DOSE:CLR``                    clear the staged masses; ``OK``
``DOSE:MASS <precursor>,<mg>``  stage a target mass of one precursor (mg); ``OK``
``DOSE:RUN "<key>","<id>"``     dose the staged masses into a vial for sample ``<id>``; ``OK``
``DOSE:STAT?``                  ``<phase>,"<key>","<id>",<s_left>``; phases ``idle``,
                                ``taring``, ``dosing``, ``settling``, ``done``, ``aborted``
``DOSE:JOB? "<key>"``           the same for that job (``unknown`` if never seen)
``DOSE:RES? "<key>"``           the balance readings of a finished job, in mg, to 0.01 mg:
                                ``<precursor>,<mg>[,<precursor>,<mg>...]``; ``ERR 203`` while
                                it runs, ``ERR 205`` if it was aborted
``DOSE:ABOR``                   stop dosing; the job becomes ``aborted``; ``OK``
==============================  =============================================================

A finished job does not block the next one (the vial is handed on); results stay readable by
key. Job timing (:func:`dosing_duration_s`): tare, then for each precursor a fixed move-and-open
time plus the mass at the feeder's rate, then the balance settles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
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

__all__ = ["DOSE_RATE_MG_PER_S", "PER_PRECURSOR_S", "SETTLE_S", "TARE_S", "DosingLimits", "DosingStation",
           "dosing_duration_s", "mass_problems"]

#: Taring the empty vial (seconds).
TARE_S = 30.0
#: Moving to a precursor's feeder and opening it (seconds per precursor).
PER_PRECURSOR_S = 45.0
#: Feeder rate (mg per second).
DOSE_RATE_MG_PER_S = 20.0
#: Final balance settling before the readings are taken (seconds).
SETTLE_S = 180.0


def dosing_duration_s(masses_mg: Mapping[str, float]) -> float:
    """Duration of a dosing job (seconds) for target ``masses_mg`` (mg per precursor)."""
    feeding = sum(PER_PRECURSOR_S + float(m) / DOSE_RATE_MG_PER_S for m in masses_mg.values())
    return TARE_S + feeding + SETTLE_S


@dataclass(frozen=True)
class DosingLimits:
    """What the driver lets through (checked before any byte is sent).

    Attributes:
        min_mg: smallest mass of one precursor (mg).
        max_mg: largest mass of one precursor (mg).
        max_total_mg: largest total mass in one vial (mg).
        precursors: the powders loaded in the feeders.
    """

    min_mg: float = 1.0
    max_mg: float = 5000.0
    max_total_mg: float = 10000.0
    precursors: tuple[str, ...] = ("BaCO3", "TiO2")


def mass_problems(limits: DosingLimits, masses_mg: Mapping[str, float]) -> list[Problem]:
    """Every way a dosing job breaks ``limits`` (no transport needed); empty when it is allowed.

    Args:
        limits: what the station lets through (its loaded precursors, per-precursor and vial masses).
        masses_mg: target mass of each precursor (mg).

    Returns:
        ``(argument, message)`` pairs (``"precursor"`` for a powder no feeder holds, ``"masses_mg"``
        for a mass outside the limits), in the order :meth:`DosingStation.check_masses` checks them.

    Example:
        >>> mass_problems(DosingLimits(), {"SrCO3": 600.0, "TiO2": 400.0})
        [('precursor', "precursor='SrCO3' is not allowed; expected one of BaCO3, TiO2")]
    """
    lim = limits
    if not isinstance(masses_mg, Mapping) or not masses_mg:
        return [("masses_mg", f"masses_mg={masses_mg!r} must be a non-empty mapping of precursor to mg, "
                              f"precursors: {', '.join(lim.precursors)}")]
    found: list[Problem] = []
    for precursor, mass in masses_mg.items():
        found += problems_of(
            ("precursor", partial(check_choice, "precursor", precursor, lim.precursors)),
            ("masses_mg", partial(check_range, f"masses_mg[{precursor!r}]", mass, lim.min_mg, lim.max_mg, "mg")),
        )
    if not found:
        total = sum(float(m) for m in masses_mg.values())
        if total > lim.max_total_mg:
            found.append(("masses_mg", f"total mass {total} mg is above the vial's limit of {lim.max_total_mg} mg"))
    return found


class DosingStation(JobDriver):
    """Driver of a powder dosing station with a balance (protocol in the module docstring).

    Args:
        transport: the byte link to the station.
        limits: what the driver lets through.
        name: the instrument's name.
    """

    prefix = "DOSE"
    kind: ClassVar[InstrumentKind] = InstrumentKind.DOSING
    results: ClassVar[tuple[ResultSpec, ...]] = (ResultSpec("dosed_mg", "mg"),)

    def __init__(self, transport: Transport, limits: DosingLimits = DosingLimits(), name: str = "doser") -> None:
        super().__init__(transport, name)
        self.limits = limits

    def check_masses(self, masses_mg: Mapping[str, float]) -> dict[str, float]:
        """The masses as floats, or :class:`~instruments.errors.LimitViolation` if outside the limits."""
        raise_first(mass_problems(self.limits, masses_mg))
        return {precursor: float(mass) for precursor, mass in masses_mg.items()}

    @staticmethod
    def step_problems(command: Mapping[str, Any], limits: DosingLimits) -> list[Problem]:
        """What :meth:`start_step` would refuse in ``command`` under ``limits``, without a transport."""
        return mass_problems(limits, dict(command["masses_mg"]))

    def start_dose(self, job_key: str, sample_id: str, masses_mg: Mapping[str, float]) -> InstrumentStatus:
        """Dose ``masses_mg`` into a vial for ``sample_id``, exactly once.

        Idempotent: if the station already knows ``job_key`` nothing starts and its status is
        returned.

        Args:
            job_key: the step's idempotency key.
            sample_id: the sample the vial becomes.
            masses_mg: target mass of each precursor (mg).

        Raises:
            LimitViolation: a precursor or mass is outside the limits (nothing was sent).
            InstrumentBusy: the station is dosing another job.
            JobConflict: ``job_key`` is known for another sample.
        """
        check_identifier("job_key", job_key)
        check_identifier("sample_id", sample_id)
        masses = self.check_masses(masses_mg)
        setpoints = ["DOSE:CLR", *(f"DOSE:MASS {p},{number(m)}" for p, m in masses.items())]
        return self._start_job(job_key, sample_id, setpoints,
                               lambda held: check_same(self.name, job_key, held, {"sample_id": sample_id}))

    def expected_duration_s(self, masses_mg: Mapping[str, float]) -> float:
        """Duration of dosing ``masses_mg`` (seconds); see :func:`dosing_duration_s`."""
        return dosing_duration_s(masses_mg)

    def result(self, job_key: str) -> dict[str, float]:
        """The actual dosed masses of a finished job, read from the balance (mg).

        Raises:
            NotReady: the job is still running.
            JobAborted: the job was aborted.
            UnknownJob: the station has no record of ``job_key``.
        """
        reply = self.scpi.query(f"DOSE:RES? {quote(check_identifier('job_key', job_key))}")
        parts = reply.split(",")
        if len(parts) < 2 or len(parts) % 2:
            raise GarbledReply(f"{self.name}: expected precursor,mg pairs from DOSE:RES?, got {reply!r}")
        try:
            return {parts[i]: float(parts[i + 1]) for i in range(0, len(parts), 2)}
        except ValueError as exc:
            raise GarbledReply(f"{self.name}: DOSE:RES? reply {reply!r} does not parse: {exc}") from exc

    # -- the workflow step this driver serves (instruments.protocol.StepDriver) ------------------
    def start_step(self, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
        """Dose the step's ``masses_mg`` (see :meth:`start_dose`)."""
        return self.start_dose(job_key, sample_id, dict(command["masses_mg"]))

    def step_duration_s(self, command: Mapping[str, Any]) -> float:
        """Duration of dosing the step's ``masses_mg`` (seconds)."""
        return self.expected_duration_s(dict(command["masses_mg"]))

    def collect_step(self, job_key: str) -> list[Measurement]:
        """The dosed masses (mg), precursors in alphabetical order (``meta["precursors"]``)."""
        masses = self.result(job_key)
        names = sorted(masses)
        return [Measurement.from_array("dosed_mg", np.array([masses[k] for k in names], dtype="<f8"), units="mg",
                                       instrument=self.name, meta={"precursors": names})]

    def release_step(self, job_key: str) -> None:
        """Nothing to release: the vial leaves with its sample."""
