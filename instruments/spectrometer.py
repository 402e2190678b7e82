"""UV-Vis spectrometer driver: records a powder's diffuse-reflectance absorbance over a wavelength range.

Wire protocol (ASCII lines ending in ``\\n``; every line gets one reply; conventions in
:mod:`instruments.scpi`, common commands in :mod:`instruments.base`; prefix ``SPEC``):

==============================  =============================================================
``*IDN?``                       ``LabSim,UVVis-DR200,<serial>,<firmware>``
``SPEC:STAR <nm>``              stage the first wavelength (nm); ``OK``
``SPEC:STOP <nm>``              stage the last wavelength (nm); ``OK``
``SPEC:STEP <nm>``              stage the wavelength step (nm); ``OK``
``SPEC:RUN "<key>","<id>"``     load sample ``<id>`` and record the staged spectrum; ``OK``
``SPEC:STAT?``                  ``<phase>,"<key>","<id>",<s_left>,<start>,<stop>,<step>``;
                                phases ``idle``, ``loading``, ``measuring``, ``done``, ``aborted``
``SPEC:JOB? "<key>"``           the same for that job (``unknown`` if never seen)
``SPEC:DATA? "<key>"``          the spectrum of a finished job: a definite-length block of
                                ``2N`` little-endian float64: the ``N`` wavelengths (nm), then
                                the ``N`` absorbances (Kubelka-Munk units); ``ERR 203`` while it
                                runs, ``ERR 205`` if aborted
``SPEC:ABOR``                   stop the measurement; it becomes ``aborted``; ``OK``
==============================  =============================================================

The grid is ``start + step * i`` for ``i = 0 .. N-1`` (:func:`spectrum_points`). Timing
(:func:`spectrum_duration_s`): loading the sample cup, then a fixed time per wavelength.

Example:
    >>> spectrum_points(250.0, 800.0, 5.0)
    111
    >>> spectrum_duration_s(250.0, 800.0, 5.0)
    35.55
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

__all__ = ["LOAD_S", "SECONDS_PER_POINT", "SpectrometerLimits", "UvVisSpectrometer", "spectrum_duration_s",
           "spectrum_points", "spectrum_problems"]

#: Loading the sample cup and the reference before the measurement (seconds).
LOAD_S = 30.0
#: Recording one wavelength (seconds).
SECONDS_PER_POINT = 0.05


def spectrum_points(start_nm: float, stop_nm: float, step_nm: float) -> int:
    """Number of wavelengths from ``start_nm`` to ``stop_nm`` (inclusive) by ``step_nm`` (nm)."""
    return int(math.floor((stop_nm - start_nm) / step_nm + 1e-6)) + 1


def spectrum_duration_s(start_nm: float, stop_nm: float, step_nm: float) -> float:
    """Duration of a measurement (seconds): loading plus the time of every wavelength."""
    return LOAD_S + spectrum_points(start_nm, stop_nm, step_nm) * SECONDS_PER_POINT


@dataclass(frozen=True)
class SpectrometerLimits:
    """What the driver lets through (checked before any byte is sent).

    Attributes:
        min_nm: shortest wavelength of the lamp and detector (nm).
        max_nm: longest wavelength (nm).
        min_step_nm: finest step (nm).
        max_step_nm: coarsest step (nm).
        max_points: most wavelengths in one spectrum.
    """

    min_nm: float = 200.0
    max_nm: float = 1100.0
    min_step_nm: float = 0.5
    max_step_nm: float = 20.0
    max_points: int = 4000


def spectrum_problems(limits: SpectrometerLimits, start_nm: float, stop_nm: float, step_nm: float) -> list[Problem]:
    """Every way a wavelength range breaks ``limits`` (no transport needed); empty when it is allowed.

    Args:
        limits: what the spectrometer lets through.
        start_nm: first wavelength (nm).
        stop_nm: last wavelength (nm).
        step_nm: wavelength step (nm).

    Returns:
        ``(argument, message)`` pairs, in the order :meth:`UvVisSpectrometer.check_range_nm` checks them.
    """
    lim = limits
    found = problems_of(
        ("start_nm", lambda: check_range("start_nm", start_nm, lim.min_nm, lim.max_nm, "nm")),
        ("stop_nm", lambda: check_range("stop_nm", stop_nm, lim.min_nm, lim.max_nm, "nm")),
        ("step_nm", lambda: check_range("step_nm", step_nm, lim.min_step_nm, lim.max_step_nm, "nm")),
    )
    if found:
        return found
    if stop_nm <= start_nm:
        return [("stop_nm", f"stop_nm={stop_nm} must be above start_nm={start_nm} (nm)")]
    points = spectrum_points(start_nm, stop_nm, step_nm)
    if points > lim.max_points:
        return [("step_nm", f"a spectrum from {start_nm} to {stop_nm} nm by {step_nm} has {points} points; "
                            f"at most {lim.max_points} are allowed")]
    return []


class UvVisSpectrometer(JobDriver):
    """Driver of a UV-Vis diffuse-reflectance spectrometer (protocol in the module docstring).

    Args:
        transport: the byte link to the spectrometer.
        limits: what the driver lets through.
        name: the instrument's name.
    """

    prefix = "SPEC"
    kind: ClassVar[InstrumentKind] = InstrumentKind.UVVIS
    results: ClassVar[tuple[ResultSpec, ...]] = (
        ResultSpec("uvvis_spectrum", "nm,absorbance", ("wavelength_nm", "absorbance")),)
    extra_fields = (("start_nm", float), ("stop_nm", float), ("step_nm", float))

    def __init__(self, transport: Transport, limits: SpectrometerLimits = SpectrometerLimits(),
                 name: str = "uvvis") -> None:
        super().__init__(transport, name)
        self.limits = limits

    def check_range_nm(self, start_nm: float, stop_nm: float, step_nm: float) -> None:
        """Raise :class:`~instruments.errors.LimitViolation` if the wavelength range is outside the limits."""
        raise_first(spectrum_problems(self.limits, start_nm, stop_nm, step_nm))

    @staticmethod
    def step_problems(command: Mapping[str, Any], limits: SpectrometerLimits) -> list[Problem]:
        """What :meth:`start_step` would refuse in ``command`` under ``limits``, without a transport."""
        return spectrum_problems(limits, command["start_nm"], command["stop_nm"], command["step_nm"])

    def start_spectrum(self, job_key: str, sample_id: str, start_nm: float = 250.0, stop_nm: float = 800.0,
                       step_nm: float = 5.0) -> InstrumentStatus:
        """Record the spectrum of ``sample_id`` exactly once and return the spectrometer's status for it.

        Idempotent: if the spectrometer already knows ``job_key`` nothing starts and its status
        is returned.

        Raises:
            LimitViolation: the range is outside the limits (nothing was sent).
            InstrumentBusy: the spectrometer is measuring another job.
            JobConflict: ``job_key`` is known with other settings or another sample.
        """
        check_identifier("job_key", job_key)
        check_identifier("sample_id", sample_id)
        self.check_range_nm(start_nm, stop_nm, step_nm)
        setpoints = [f"SPEC:STAR {number(start_nm)}", f"SPEC:STOP {number(stop_nm)}", f"SPEC:STEP {number(step_nm)}"]
        wanted = {"sample_id": sample_id, "start_nm": float(start_nm), "stop_nm": float(stop_nm),
                  "step_nm": float(step_nm)}
        return self._start_job(job_key, sample_id, setpoints, lambda held: check_same(self.name, job_key, held, wanted))

    def expected_duration_s(self, start_nm: float = 250.0, stop_nm: float = 800.0, step_nm: float = 5.0) -> float:
        """Duration of the measurement (seconds); see :func:`spectrum_duration_s`."""
        return spectrum_duration_s(start_nm, stop_nm, step_nm)

    def fetch_spectrum(self, job_key: str) -> tuple[np.ndarray, np.ndarray]:
        """The spectrum of a finished job: ``(wavelength_nm, absorbance)``, float64 arrays of equal length.

        Raises:
            NotReady: the measurement is still running.
            JobAborted: the measurement was aborted.
            UnknownJob: the spectrometer has no record of ``job_key``.
        """
        return self._query_two_columns("SPEC:DATA?", job_key, "spectrum")

    # -- the workflow step this driver serves (instruments.protocol.StepDriver) ------------------
    def start_step(self, job_key: str, sample_id: str, command: Mapping[str, Any]) -> InstrumentStatus:
        """Start the step's spectrum: ``start_nm``, ``stop_nm``, ``step_nm``."""
        return self.start_spectrum(job_key, sample_id, command["start_nm"], command["stop_nm"], command["step_nm"])

    def step_duration_s(self, command: Mapping[str, Any]) -> float:
        """Duration of the step's measurement (seconds)."""
        return self.expected_duration_s(command["start_nm"], command["stop_nm"], command["step_nm"])

    def collect_step(self, job_key: str) -> list[Measurement]:
        """The spectrum: columns wavelength (nm) and absorbance (Kubelka-Munk units)."""
        wavelength, absorbance = self.fetch_spectrum(job_key)
        spectrum = np.stack([np.asarray(wavelength, "<f8"), np.asarray(absorbance, "<f8")], axis=1)
        return [Measurement.from_array("uvvis_spectrum", spectrum, units="nm,absorbance", instrument=self.name,
                                       meta={"columns": ["wavelength_nm", "absorbance"], "mode": "diffuse reflectance"})]

    def release_step(self, job_key: str) -> None:
        """Nothing to release: the sample cup is free once the spectrum is read."""
