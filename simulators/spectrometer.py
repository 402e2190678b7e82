"""Device side of the UV-Vis spectrometer protocol (documented in :mod:`instruments.spectrometer`).

Like the diffractometer's simulator it does not know the materials world: it is given a
``spectrum_source`` callable, ``(sample_id, wavelength_nm) -> absorbance``, called once per
measurement when it completes. If the source raises, the data query answers ``ERR 501`` with the
reason. Settings persist between measurements (defaults 250-800 nm by 5 nm).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from instruments.spectrometer import LOAD_S, SpectrometerLimits, spectrum_duration_s, spectrum_points
from lab.clock import Clock
from simulators.device import DeviceRefusal, Handler, encode_block, want_args, want_number
from simulators.faults import FaultInjector, FaultPlan
from simulators.jobs import Job, JobDevice

__all__ = ["SpectrometerSimulator", "SpectrumSource"]

log = logging.getLogger(__name__)

#: ``(sample_id, wavelengths in nm) -> absorbance`` on those wavelengths.
SpectrumSource = Callable[[str, np.ndarray], np.ndarray]


class SpectrometerSimulator(JobDevice):
    """A simulated UV-Vis diffuse-reflectance spectrometer.

    Args:
        name: the instrument's name.
        clock: the time it lives on.
        spectrum_source: ``(sample_id, wavelength_nm) -> absorbance``; called once per completed job.
        faults: a fault plan or injector.
        limits: the optics' own limits (refused with ``ERR -222`` beyond them).
    """

    model = "UVVis-DR200"
    prefix = "SPEC"
    volatile = ("settings",)

    def __init__(self, name: str, clock: Clock, spectrum_source: SpectrumSource,
                 faults: FaultPlan | FaultInjector | None = None,
                 limits: SpectrometerLimits = SpectrometerLimits()) -> None:
        if not callable(spectrum_source):
            raise TypeError(f"spectrum_source must be a callable (sample_id, wavelength_nm) -> absorbance, "
                            f"got {spectrum_source!r}")
        self.spectrum_source = spectrum_source
        self.limits = limits
        self.settings = {"start_nm": 250.0, "stop_nm": 800.0, "step_nm": 5.0}
        super().__init__(name, clock, faults)

    def handlers(self) -> dict[str, Handler]:
        lim = self.limits
        return {
            **super().handlers(),
            "SPEC:STAR": self._setting("start_nm", "SPEC:STAR", lim.min_nm, lim.max_nm),
            "SPEC:STOP": self._setting("stop_nm", "SPEC:STOP", lim.min_nm, lim.max_nm),
            "SPEC:STEP": self._setting("step_nm", "SPEC:STEP", lim.min_step_nm, lim.max_step_nm),
            "SPEC:DATA?": self._data,
        }

    def _setting(self, key: str, header: str, low: float, high: float) -> Handler:
        """A handler that sets ``key`` from a number of nm in ``[low, high]``."""
        def setting(args: list[str]) -> str:
            (text,) = want_args(args, 1, f"{header} <nm>")
            self.settings[key] = want_number(text, header, low, high, "nm")
            return "OK"
        return setting

    def new_job(self, key: str, sample_id: str) -> Job:
        s = dict(self.settings)
        if s["stop_nm"] <= s["start_nm"]:
            raise DeviceRefusal(-222, f"Data out of range: stop {s['stop_nm']} nm <= start {s['start_nm']} nm")
        points = spectrum_points(s["start_nm"], s["stop_nm"], s["step_nm"])
        if points > self.limits.max_points:
            raise DeviceRefusal(-222, f"Data out of range: {points} points (at most {self.limits.max_points})")
        return Job(key, sample_id, self.clock.now(), spectrum_duration_s(s["start_nm"], s["stop_nm"], s["step_nm"]), s)

    def running_phase(self, job: Job, elapsed_s: float) -> str:
        return "loading" if elapsed_s < LOAD_S else "measuring"

    def extras(self, job: Job | None) -> list[str]:
        s = self.settings if job is None else job.params
        return [repr(s[k]) for k in ("start_nm", "stop_nm", "step_nm")]

    def on_finish(self, job: Job) -> None:
        p = job.params
        grid = p["start_nm"] + p["step_nm"] * np.arange(spectrum_points(p["start_nm"], p["stop_nm"], p["step_nm"]))
        try:
            absorbance = np.asarray(self.spectrum_source(job.sample_id, grid), dtype=np.float64)
            if absorbance.shape != grid.shape:
                raise ValueError(f"spectrum_source gave {absorbance.shape} values for {grid.size} wavelengths")
            job.result = (grid, absorbance)
        except Exception as exc:  # the device must keep answering; the reason goes to the driver
            log.exception("%s: spectrum_source failed for sample %s", self.name, job.sample_id)
            job.params["error"] = f"{type(exc).__name__}: {exc}"

    def _data(self, args: list[str]) -> bytes:
        (key,) = want_args(args, 1, 'SPEC:DATA? "<key>"')
        job = self.job_of(key)
        phase = self.phase(job)
        if phase == "aborted":
            raise DeviceRefusal(205, f"Measurement {key} was aborted; no spectrum")
        if "error" in job.params:
            raise DeviceRefusal(501, f"No spectrum for sample {job.sample_id}: {job.params['error']}")
        if job.result is None:
            left = job.seconds_left(self.clock.now())
            raise DeviceRefusal(203, f"Measurement {key} not finished ({phase}, {left:.0f} s left)")
        wavelength, absorbance = job.result
        return encode_block(np.concatenate([wavelength, absorbance]).astype("<f8").tobytes())
