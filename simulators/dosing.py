"""Device side of the powder dosing protocol (documented in :mod:`instruments.dosing`).

Job timing follows :func:`~instruments.dosing.dosing_duration_s` (minutes). The balance reads
each target mass with a seeded error of ``0.3 mg + 0.2 %`` (one standard deviation), to
0.01 mg; the readings depend only on the seed and the job key, not on the order of jobs. They
are recorded into the shared :class:`~simulators.samples.SampleTray` when the station notices
the end of the job (on the first command it receives after the end).
"""

from __future__ import annotations

import random

from instruments.dosing import SETTLE_S, TARE_S, DosingLimits, dosing_duration_s
from lab.clock import Clock
from simulators.device import DeviceRefusal, Handler, want_args, want_number
from simulators.faults import FaultInjector, FaultPlan
from simulators.jobs import Job, JobDevice
from simulators.samples import SampleTray

__all__ = ["DosingSimulator", "balance_reading"]

#: Balance error: constant part (mg, one standard deviation).
BALANCE_SIGMA_MG = 0.3
#: Balance error: part proportional to the mass (fraction, one standard deviation).
BALANCE_SIGMA_REL = 0.002


def balance_reading(target_mg: float, rng: random.Random) -> float:
    """What the balance reads after dosing ``target_mg`` (mg, to 0.01 mg)."""
    actual = target_mg + rng.gauss(0.0, BALANCE_SIGMA_MG + BALANCE_SIGMA_REL * target_mg)
    return round(max(actual, 0.0), 2)


class DosingSimulator(JobDevice):
    """A simulated powder dosing station with a balance.

    Args:
        name: the instrument's name.
        clock: the time it lives on.
        tray: the shared sample tray (dosed masses are recorded there).
        faults: a fault plan or injector.
        limits: the station's own limits (refused with ``ERR -222``/``-224`` beyond them).
        seed: seed of the balance error.
    """

    model = "PowderDoser-2"
    prefix = "DOSE"
    volatile = ("staged",)

    def __init__(self, name: str, clock: Clock, tray: SampleTray, faults: FaultPlan | FaultInjector | None = None,
                 limits: DosingLimits = DosingLimits(), seed: int = 0) -> None:
        self.tray = tray
        self.limits = limits
        self.seed = seed
        self.staged: dict[str, float] = {}
        super().__init__(name, clock, faults)

    def handlers(self) -> dict[str, Handler]:
        return {**super().handlers(), "DOSE:CLR": self._clear, "DOSE:MASS": self._stage, "DOSE:RES?": self._result}

    def _clear(self, args: list[str]) -> str:
        self.staged = {}
        return "OK"

    def _stage(self, args: list[str]) -> str:
        precursor, text = want_args(args, 2, "DOSE:MASS <precursor>,<mg>")
        if precursor not in self.limits.precursors:
            raise DeviceRefusal(-224, f"Illegal parameter value: no feeder holds {precursor} "
                                      f"(loaded: {' '.join(self.limits.precursors)})")
        self.staged[precursor] = want_number(text, f"DOSE:MASS {precursor}", self.limits.min_mg,
                                             self.limits.max_mg, "mg")
        return "OK"

    def new_job(self, key: str, sample_id: str) -> Job:
        if not self.staged:
            raise DeviceRefusal(-109, "Missing setpoint: stage masses with DOSE:MASS before DOSE:RUN")
        total = sum(self.staged.values())
        if total > self.limits.max_total_mg:
            raise DeviceRefusal(-222, f"Data out of range: total {total} mg (vial holds {self.limits.max_total_mg} mg)")
        targets, self.staged = dict(self.staged), {}
        rng = random.Random(f"{self.seed}:{key}")
        actual = {p: balance_reading(m, rng) for p, m in targets.items()}
        return Job(key, sample_id, self.clock.now(), dosing_duration_s(targets),
                   {"targets_mg": targets, "actual_mg": actual})

    def running_phase(self, job: Job, elapsed_s: float) -> str:
        if elapsed_s < TARE_S:
            return "taring"
        return "dosing" if elapsed_s < job.duration_s - SETTLE_S else "settling"

    def on_finish(self, job: Job) -> None:
        job.result = dict(job.params["actual_mg"])
        self.tray.record_dose(job.sample_id, job.result)

    def _result(self, args: list[str]) -> str:
        (key,) = want_args(args, 1, 'DOSE:RES? "<key>"')
        job = self.job_of(key)
        phase = self.phase(job)
        if phase == "aborted":
            raise DeviceRefusal(205, f"Job {key} was aborted; no result")
        if job.result is None:
            left = job.seconds_left(self.clock.now())
            raise DeviceRefusal(203, f"Job {key} not finished ({phase}, {left:.0f} s left)")
        return ",".join(f"{p},{m:.2f}" for p, m in job.result.items())
