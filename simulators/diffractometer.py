"""Device side of the diffractometer protocol (documented in :mod:`instruments.diffractometer`).

The simulator does not know the materials world: it is given a ``pattern_source`` callable,
``sample_id -> (two_theta, counts)``, and calls it once per scan, when the scan completes
(on the first command the diffractometer receives after the end). When the source's grid is
the scan grid (the default 10-80° by 0.02°) its arrays are served bit for bit; otherwise the
counts are interpolated linearly onto the scan grid, 0 outside the source's range. If the
source raises, the scan's data query answers ``ERR 501`` (no pattern) with the reason.

Scan settings persist between scans, as on a real instrument (defaults 10-80° by 0.02°,
0.5 s per step). :data:`DEFAULT_SCAN_GRID` is that scan's grid, both ends included (3501 points,
the last at 80.0°): a source should compute its counts on it, since a grid that stops short
(e.g. 3500 points ending at 79.98°) leaves the scan's last point at 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from instruments.diffractometer import (
    DEFAULT_SECONDS_PER_STEP,
    LOAD_S,
    XrdLimits,
    scan_duration_s,
    scan_points,
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

__all__ = ["DEFAULT_SCAN_GRID", "DiffractometerSimulator", "PatternSource", "scan_grid"]

log = logging.getLogger(__name__)

#: ``sample_id -> (two_theta in degrees, counts)``.
PatternSource = Callable[[str], tuple[np.ndarray, np.ndarray]]


def scan_grid(start_deg: float, stop_deg: float, step_deg: float) -> np.ndarray:
    """The 2-theta angles of a scan (degrees)."""
    return start_deg + step_deg * np.arange(scan_points(start_deg, stop_deg, step_deg), dtype=np.float64)


#: The default scan's 2-theta angles: 10-80° by 0.02°, both ends included (3501 points; degrees).
DEFAULT_SCAN_GRID: np.ndarray = scan_grid(10.0, 80.0, 0.02)
DEFAULT_SCAN_GRID.setflags(write=False)


def resample(two_theta: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, counts on grid)``: the source's arrays as they are when their grid is ``grid``."""
    two_theta = np.asarray(two_theta, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if two_theta.shape != counts.shape or two_theta.ndim != 1:
        raise ValueError(f"pattern_source gave arrays of shapes {two_theta.shape} and {counts.shape}; "
                         "expected two 1-D arrays of equal length")
    if two_theta.shape == grid.shape and np.allclose(two_theta, grid, rtol=0.0, atol=1e-6):
        return two_theta, counts
    return grid, np.interp(grid, two_theta, counts, left=0.0, right=0.0)


class DiffractometerSimulator(JobDevice):
    """A simulated powder X-ray diffractometer.

    Args:
        name: the instrument's name.
        clock: the time it lives on.
        pattern_source: ``sample_id -> (two_theta, counts)``; called once per completed scan.
        faults: a fault plan or injector.
        limits: the goniometer's own limits (refused with ``ERR -222`` beyond them).
    """

    model = "PowderXRD-600"
    prefix = "SCAN"
    volatile = ("settings",)

    def __init__(self, name: str, clock: Clock, pattern_source: PatternSource,
                 faults: FaultPlan | FaultInjector | None = None, limits: XrdLimits = XrdLimits()) -> None:
        if not callable(pattern_source):
            raise TypeError(f"pattern_source must be a callable sample_id -> (two_theta, counts), "
                            f"got {pattern_source!r}")
        self.pattern_source = pattern_source
        self.limits = limits
        self.settings = {"start_deg": 10.0, "stop_deg": 80.0, "step_deg": 0.02,
                         "seconds_per_step": DEFAULT_SECONDS_PER_STEP}
        super().__init__(name, clock, faults)

    def handlers(self) -> dict[str, Handler]:
        lim = self.limits
        return {
            **super().handlers(),
            "SCAN:STAR": self._setting("start_deg", "SCAN:STAR", lim.min_two_theta, lim.max_two_theta, "deg"),
            "SCAN:STOP": self._setting("stop_deg", "SCAN:STOP", lim.min_two_theta, lim.max_two_theta, "deg"),
            "SCAN:STEP": self._setting("step_deg", "SCAN:STEP", lim.min_step, lim.max_step, "deg"),
            "SCAN:TIME": self._setting("seconds_per_step", "SCAN:TIME", lim.min_seconds_per_step,
                                       lim.max_seconds_per_step, "s"),
            "SCAN:DATA?": self._data,
        }

    def _setting(self, key: str, header: str, low: float, high: float, unit: str) -> Handler:
        """A handler that sets ``key`` from a number in ``[low, high]``."""
        def setting(args: list[str]) -> str:
            (text,) = want_args(args, 1, f"{header} <{unit}>")
            self.settings[key] = want_number(text, header, low, high, unit)
            return "OK"
        return setting

    def new_job(self, key: str, sample_id: str) -> Job:
        s = dict(self.settings)
        if s["stop_deg"] <= s["start_deg"]:
            raise DeviceRefusal(-222, f"Data out of range: stop {s['stop_deg']} deg <= start {s['start_deg']} deg")
        points = scan_points(s["start_deg"], s["stop_deg"], s["step_deg"])
        if points > self.limits.max_points:
            raise DeviceRefusal(-222, f"Data out of range: {points} points (at most {self.limits.max_points})")
        duration = scan_duration_s(s["start_deg"], s["stop_deg"], s["step_deg"], s["seconds_per_step"])
        return Job(key, sample_id, self.clock.now(), duration, s)

    def running_phase(self, job: Job, elapsed_s: float) -> str:
        return "loading" if elapsed_s < LOAD_S else "scanning"

    def extras(self, job: Job | None) -> list[str]:
        s = self.settings if job is None else job.params
        fields = [repr(s[k]) for k in ("start_deg", "stop_deg", "step_deg", "seconds_per_step")]
        return [f"{self._position(job):.3f}", *fields]

    def _position(self, job: Job | None) -> float:
        """The goniometer's 2-theta angle now (degrees)."""
        if job is None:
            return self.settings["start_deg"]
        p = job.params
        steps = int(max(job.elapsed_s(self.clock.now()) - LOAD_S, 0.0) // p["seconds_per_step"])
        return min(p["start_deg"] + steps * p["step_deg"], p["stop_deg"])

    def on_finish(self, job: Job) -> None:
        p = job.params
        try:
            two_theta, counts = self.pattern_source(job.sample_id)
            job.result = resample(two_theta, counts, scan_grid(p["start_deg"], p["stop_deg"], p["step_deg"]))
        except Exception as exc:  # the device must keep answering; the reason goes to the driver
            log.exception("%s: pattern_source failed for sample %s", self.name, job.sample_id)
            job.params["error"] = f"{type(exc).__name__}: {exc}"

    def _data(self, args: list[str]) -> bytes:
        (key,) = want_args(args, 1, 'SCAN:DATA? "<key>"')
        job = self.job_of(key)
        phase = self.phase(job)
        if phase == "aborted":
            raise DeviceRefusal(205, f"Scan {key} was aborted; no pattern")
        if "error" in job.params:
            raise DeviceRefusal(501, f"No pattern for sample {job.sample_id}: {job.params['error']}")
        if job.result is None:
            left = job.seconds_left(self.clock.now())
            raise DeviceRefusal(203, f"Scan {key} not finished ({phase}, {left:.0f} s left)")
        two_theta, counts = job.result
        return encode_block(np.concatenate([two_theta, counts]).astype("<f8").tobytes())
