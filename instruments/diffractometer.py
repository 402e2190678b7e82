"""X-ray diffractometer driver: scans a sample over 2-theta and returns the whole pattern.

Wire protocol (ASCII lines ending in ``\\n``; every line gets one reply; conventions in
:mod:`instruments.scpi`, common commands in :mod:`instruments.base`; prefix ``SCAN``):

==============================  =============================================================
``*IDN?``                       ``LabSim,PowderXRD-600,<serial>,<firmware>``
``SCAN:STAR <deg>``             stage the first 2-theta angle (degrees); ``OK``
``SCAN:STOP <deg>``             stage the last 2-theta angle (degrees); ``OK``
``SCAN:STEP <deg>``             stage the 2-theta step (degrees); ``OK``
``SCAN:TIME <s>``               stage the counting time per step (seconds); ``OK``
``SCAN:RUN "<key>","<id>"``     load sample ``<id>`` and run the staged scan; ``OK``
``SCAN:STAT?``                  ``<phase>,"<key>","<id>",<s_left>,<2θ now>,<start>,<stop>,<step>,``
                                ``<s per step>``; phases ``idle``, ``loading``, ``scanning``,
                                ``done``, ``aborted``
``SCAN:JOB? "<key>"``           the same for that job (``unknown`` if never seen)
``SCAN:DATA? "<key>"``          the pattern of a finished scan: a definite-length block of
                                ``2N`` little-endian float64: the ``N`` 2-theta angles (degrees),
                                then the ``N`` counts; ``ERR 203`` while it runs, ``ERR 205`` if
                                aborted
``SCAN:ABOR``                   stop the scan; it becomes ``aborted``; ``OK``
==============================  =============================================================

The scan grid is ``start + step * i`` for ``i = 0 .. N-1`` with ``N`` from :func:`scan_points`.
A finished scan does not block the next one (the autosampler swaps samples); patterns stay
readable by key. Scan timing (:func:`scan_duration_s`): sample loading and alignment, then the
counting time of every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from instruments.base import JobDriver, check_same, number
from instruments.limits import Problem, check_identifier, check_range, problems_of, raise_first
from instruments.protocol import InstrumentStatus, ResultSpec
from instruments.transport import Transport
from lab.experiment import Measurement
from lab.instrument_kind import InstrumentKind

__all__ = ["LOAD_S", "Diffractometer", "XrdLimits", "scan_duration_s", "scan_points", "scan_problems"]

#: Loading and aligning a sample before the scan (seconds).
LOAD_S = 90.0
#: Default counting time per step (seconds): a 10-80° scan at 0.02° takes about 30 minutes.
DEFAULT_SECONDS_PER_STEP = 0.5


def scan_points(start_deg: float, stop_deg: float, step_deg: float) -> int:
    """Number of points of a scan from ``start_deg`` to ``stop_deg`` (inclusive) by ``step_deg`` (degrees)."""
    return int(math.floor((stop_deg - start_deg) / step_deg + 1e-6)) + 1


def scan_duration_s(start_deg: float, stop_deg: float, step_deg: float, seconds_per_step: float) -> float:
    """Duration of a scan (seconds): loading plus the counting time of every point."""
    return LOAD_S + scan_points(start_deg, stop_deg, step_deg) * seconds_per_step


@dataclass(frozen=True)
class XrdLimits:
    """What the driver lets through (checked before any byte is sent).

    Attributes:
        min_two_theta: lowest angle the goniometer reaches (degrees).
        max_two_theta: highest angle the goniometer reaches (degrees).
        min_step: finest step (degrees).
        max_step: coarsest step (degrees).
        max_points: most points in one scan.
        min_seconds_per_step: shortest counting time per step (seconds).
        max_seconds_per_step: longest counting time per step (seconds).
    """

    min_two_theta: float = 5.0
    max_two_theta: float = 120.0
    min_step: float = 0.005
    max_step: float = 1.0
    max_points: int = 20000
    min_seconds_per_step: float = 0.05
    max_seconds_per_step: float = 10.0


def scan_problems(limits: XrdLimits, start_deg: float, stop_deg: float, step_deg: float,
                  seconds_per_step: float = DEFAULT_SECONDS_PER_STEP) -> list[Problem]:
    """Every way a scan breaks ``limits`` (no transport needed); empty when it is allowed.

    Args:
        limits: what the diffractometer lets through.
        start_deg: first 2-theta angle (degrees).
        stop_deg: last 2-theta angle (degrees).
        step_deg: 2-theta step (degrees).
        seconds_per_step: counting time per step (seconds).

    Returns:
        ``(argument, message)`` pairs, in the order :meth:`Diffractometer.check_scan` checks them;
        the order of the angles and the number of points are checked once every value is in range.

    Example:
        >>> scan_problems(XrdLimits(), 2.0, 80.0, 0.02)
        [('start_deg', 'start_deg=2.0 degrees is outside the allowed range 5.0..120.0 degrees')]
    """
    lim = limits
    found = problems_of(
        ("start_deg", lambda: check_range("start_deg", start_deg, lim.min_two_theta, lim.max_two_theta, "degrees")),
        ("stop_deg", lambda: check_range("stop_deg", stop_deg, lim.min_two_theta, lim.max_two_theta, "degrees")),
        ("step_deg", lambda: check_range("step_deg", step_deg, lim.min_step, lim.max_step, "degrees")),
        ("seconds_per_step", lambda: check_range("seconds_per_step", seconds_per_step, lim.min_seconds_per_step,
                                                 lim.max_seconds_per_step, "s")),
    )
    if found:
        return found
    if stop_deg <= start_deg:
        return [("stop_deg", f"stop_deg={stop_deg} must be above start_deg={start_deg} (degrees)")]
    points = scan_points(start_deg, stop_deg, step_deg)
    if points > lim.max_points:
        return [("step_deg", f"a scan from {start_deg} to {stop_deg} degrees by {step_deg} has {points} points; "
                             f"at most {lim.max_points} are allowed")]
    return []


class Diffractometer(JobDriver):
    """Driver of a powder X-ray diffractometer (protocol in the module docstring).

    Args:
        transport: the byte link to the diffractometer.
        limits: what the driver lets through.
        name: the instrument's name.
    """

    prefix = "SCAN"
    kind: ClassVar[InstrumentKind] = InstrumentKind.XRD
    results: ClassVar[tuple[ResultSpec, ...]] = (ResultSpec("xrd_pattern", "deg,counts", ("two_theta_deg", "counts")),)
    extra_fields = (("two_theta_deg", float), ("start_deg", float), ("stop_deg", float), ("step_deg", float),
                    ("seconds_per_step", float))

    def __init__(self, transport: Transport, limits: XrdLimits = XrdLimits(), name: str = "xrd") -> None:
        super().__init__(transport, name)
        self.limits = limits

    def check_scan(self, start_deg: float, stop_deg: float, step_deg: float, seconds_per_step: float) -> None:
        """Raise :class:`~instruments.errors.LimitViolation` if the scan is outside the limits."""
        raise_first(scan_problems(self.limits, start_deg, stop_deg, step_deg, seconds_per_step))

    @staticmethod
    def step_problems(command: Mapping[str, Any], limits: XrdLimits) -> list[Problem]:
        """What :meth:`start_step` would refuse in ``command`` under ``limits``, without a transport."""
        return scan_problems(limits, command["start_deg"], command["stop_deg"], command["step_deg"])

    def start_scan(self, job_key: str, sample_id: str, start_deg: float = 10.0, stop_deg: float = 80.0,
                   step_deg: float = 0.02, seconds_per_step: float = DEFAULT_SECONDS_PER_STEP) -> InstrumentStatus:
        """Scan ``sample_id`` exactly once and return the diffractometer's status for it.

        Idempotent: if the diffractometer already knows ``job_key`` nothing starts and its
        status is returned.

        Args:
            job_key: the step's idempotency key.
            sample_id: the sample to load.
            start_deg: first 2-theta angle (degrees).
            stop_deg: last 2-theta angle (degrees).
            step_deg: 2-theta step (degrees).
            seconds_per_step: counting time per step (seconds).

        Raises:
            LimitViolation: a value is outside the limits (nothing was sent).
            InstrumentBusy: the diffractometer is scanning another job.
            JobConflict: ``job_key`` is known with other parameters.
        """
        check_identifier("job_key", job_key)
        check_identifier("sample_id", sample_id)
        self.check_scan(start_deg, stop_deg, step_deg, seconds_per_step)
        setpoints = [f"SCAN:STAR {number(start_deg)}", f"SCAN:STOP {number(stop_deg)}",
                     f"SCAN:STEP {number(step_deg)}", f"SCAN:TIME {number(seconds_per_step)}"]
        wanted = {"sample_id": sample_id, "start_deg": float(start_deg), "stop_deg": float(stop_deg),
                  "step_deg": float(step_deg), "seconds_per_step": float(seconds_per_step)}
        return self._start_job(job_key, sample_id, setpoints, lambda held: check_same(self.name, job_key, held, wanted))

    def expected_duration_s(self, start_deg: float = 10.0, stop_deg: float = 80.0, step_deg: float = 0.02,
                            seconds_per_step: float = DEFAULT_SECONDS_PER_STEP) -> float:
        """Duration of the scan (seconds); see :func:`scan_duration_s`."""
        return scan_duration_s(start_deg, stop_deg, step_deg, seconds_per_step)

    def fetch_pattern(self, job_key: str) -> tuple[np.ndarray, np.ndarray]:
        """The pattern of a finished scan.

        Returns:
            ``(two_theta, counts)``: float64 arrays of equal length (degrees, counts).

        Raises:
            NotReady: the scan is still running.
            JobAborted: the scan was aborted.
            UnknownJob: the diffractometer has no record of ``job_key``.
        """
        return self._query_two_columns("SCAN:DATA?", job_key, "pattern")

    # -- the workflow step this driver serves (instruments.protocol.StepDriver) ------------------
    def start_step(self, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
        """Start the step's scan: ``start_deg``, ``stop_deg``, ``step_deg`` (degrees 2-theta)."""
        return self.start_scan(job_key, sample_id, command["start_deg"], command["stop_deg"], command["step_deg"])

    def step_duration_s(self, command: Mapping[str, Any]) -> float:
        """Duration of the step's scan (seconds)."""
        return self.expected_duration_s(command["start_deg"], command["stop_deg"], command["step_deg"])

    def collect_step(self, job_key: str) -> list[Measurement]:
        """The pattern: columns 2-theta (degrees) and counts, Cu K-alpha."""
        two_theta, counts = self.fetch_pattern(job_key)
        pattern = np.stack([np.asarray(two_theta, "<f8"), np.asarray(counts, "<f8")], axis=1)
        return [Measurement.from_array("xrd_pattern", pattern, units="deg,counts", instrument=self.name,
                                       meta={"columns": ["two_theta_deg", "counts"], "radiation": "CuKa"})]

    def release_step(self, job_key: str) -> None:
        """Nothing to release: the sample holder is free once the pattern is read."""
