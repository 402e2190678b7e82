"""The self-test job of each kind of instrument: a small, safe command and what to read back.

:func:`job_for` gives, for a driver, the job :func:`flows.campaign.selftest.selftest` runs on it:
about 10 mg of each precursor dosed, a furnace program at 200 °C with the shortest dwell, a
10-degree XRD scan, a 300-600 nm UV-Vis spectrum, each clamped into the driver's limits, and the
commands that read its results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instruments.protocol import InstrumentStatus

__all__ = ["DOSE_MG", "FURNACE_C", "SAMPLE_ID", "SCAN_DEG", "SelftestJob", "Step", "UVVIS_NM", "job_for"]


#: Sample id of every self-test job.
SAMPLE_ID = "SELFTEST"


#: Target mass of each precursor (mg), clamped into the station's limits.
DOSE_MG = 10.0


#: Furnace dwell temperature (°C), clamped into the furnace's limits.
FURNACE_C = 200.0


#: Diffractometer scan range (degrees 2-theta), clamped into the goniometer's limits.
SCAN_DEG = (20.0, 30.0)


#: Scan step (degrees) and counting time per step (seconds), clamped into the limits.
SCAN_STEP_DEG, SCAN_S_PER_STEP = 0.05, 0.1


#: UV-Vis spectrum of the self-test: 300-600 nm by 10 nm.
UVVIS_NM = (300.0, 600.0, 10.0)


#: One command of a job's follow-up: ``(name, call, describe the reply)``.
Step = tuple[str, Callable[[], Any], Callable[[Any], str]]


@dataclass(frozen=True)
class SelftestJob:
    """How to run one instrument's self-test job."""

    command: str
    start: Callable[[], InstrumentStatus]
    expected_s: float
    collect: Callable[[bool], list[Step]]


def job_for(kind: str, driver: Any, key: str) -> SelftestJob | None:
    """The self-test job of a driver of ``kind``, with values clamped into its limits."""
    lim: Any = getattr(driver, "limits", None)
    if kind == "dosing":
        share = lim.max_total_mg / max(len(lim.precursors), 1)
        masses = {p: _clamp(min(DOSE_MG, share), lim.min_mg, lim.max_mg) for p in lim.precursors}
        return SelftestJob("start_dose", lambda: driver.start_dose(key, SAMPLE_ID, masses), driver.expected_duration_s(masses),
                    lambda finished: [("result", lambda: driver.result(key), _describe_masses)])
    if kind == "furnace":
        program = (_clamp(FURNACE_C, lim.min_temperature_c, lim.max_temperature_c), lim.min_dwell_h,
                   lim.max_ramp_c_per_min)
        atmosphere = "air" if "air" in lim.atmospheres else lim.atmospheres[0]

        def collect(finished: bool) -> list[Step]:
            steps: list[Step] = [("temperature_log", lambda: driver.temperature_log(key), _describe_log)]
            if not finished:
                steps.append(("abort", driver.abort, lambda _: "OK (program not done: stopped before unload)"))
            return [*steps, ("unload", lambda: driver.unload(key), lambda s: f"sample {s} taken out")]

        return SelftestJob("start_program", lambda: driver.start_program(key, SAMPLE_ID, *program, atmosphere),
                    driver.expected_duration_s(*program), collect)
    if kind == "xrd":
        start = _clamp(SCAN_DEG[0], lim.min_two_theta, lim.max_two_theta - 1.0)
        scan = (start, min(start + SCAN_DEG[1] - SCAN_DEG[0], lim.max_two_theta),
                _clamp(SCAN_STEP_DEG, lim.min_step, lim.max_step),
                _clamp(SCAN_S_PER_STEP, lim.min_seconds_per_step, lim.max_seconds_per_step))
        return SelftestJob("start_scan", lambda: driver.start_scan(key, SAMPLE_ID, *scan), driver.expected_duration_s(*scan),
                    lambda finished: [("fetch_pattern", lambda: driver.fetch_pattern(key), _describe_pattern)])
    if kind == "uvvis":
        span = (_clamp(UVVIS_NM[0], lim.min_nm, lim.max_nm - 1.0), _clamp(UVVIS_NM[1], lim.min_nm + 1.0, lim.max_nm),
                _clamp(UVVIS_NM[2], lim.min_step_nm, lim.max_step_nm))
        return SelftestJob("start_spectrum", lambda: driver.start_spectrum(key, SAMPLE_ID, *span),
                    driver.expected_duration_s(*span),
                    lambda finished: [("fetch_spectrum", lambda: driver.fetch_spectrum(key), _describe_spectrum)])
    return None


def _describe_masses(masses: dict[str, float]) -> str:
    return ", ".join(f"{p} {mg:.2f} mg" for p, mg in masses.items())


def _describe_log(log: Any) -> str:
    return f"{len(log)} rows over {log[-1, 0]:.2f} h, max {log[:, 1].max():.1f} °C" if len(log) else "0 rows"


def _describe_pattern(pattern: tuple[Any, Any]) -> str:
    two_theta, counts = pattern
    if len(two_theta) == 0:
        raise ValueError("the pattern has no points")
    return f"{len(two_theta)} points, {two_theta[0]:.2f}-{two_theta[-1]:.2f} deg, max {counts.max():.0f} counts"


def _describe_spectrum(spectrum: tuple[Any, Any]) -> str:
    wavelength, absorbance = spectrum
    if len(wavelength) == 0:
        raise ValueError("the spectrum has no points")
    return f"{len(wavelength)} points, {wavelength[0]:.0f}-{wavelength[-1]:.0f} nm, max {absorbance.max():.2f}"


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
