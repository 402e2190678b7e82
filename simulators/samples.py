"""The physical truth of the simulated lab: which sample holds what, and what was done to it.

In a real lab the sample itself carries its history (the powder in the crucible). In the simulated
lab the simulators share one :class:`SampleTray` so that the furnace knows what it heats and the
diffractometer knows what it measures. The controller never reads the tray: it only sees what the
instruments report over their wire protocols.

Example:
    >>> tray = SampleTray()
    >>> tray.record_dose("S-1", {"BaCO3": 591.2, "TiO2": 408.8})
    >>> tray.record_anneal("S-1", AnnealRecord(1000.0, 4.0, 10.0, "air"))
    >>> tray.get("S-1").anneals[0].temperature_c
    1000.0
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["AnnealRecord", "SampleRecord", "SampleTray"]


@dataclass(frozen=True)
class AnnealRecord:
    """One furnace program applied to a sample.

    Attributes:
        temperature_c: dwell temperature (°C).
        dwell_h: time at temperature (hours).
        ramp_c_per_min: heating rate (°C/min).
        atmosphere: furnace atmosphere, e.g. ``"air"``, ``"O2"``, ``"N2"``.
    """

    temperature_c: float
    dwell_h: float
    ramp_c_per_min: float
    atmosphere: str


@dataclass
class SampleRecord:
    """Everything physically done to one sample."""

    sample_id: str
    dosed_mg: dict[str, float] = field(default_factory=dict)
    anneals: list[AnnealRecord] = field(default_factory=list)


class SampleTray:
    """Thread-safe registry of samples shared by the simulators of one simulated lab."""

    def __init__(self) -> None:
        self._samples: dict[str, SampleRecord] = {}
        self._lock = threading.Lock()

    def record_dose(self, sample_id: str, dosed_mg: dict[str, float]) -> None:
        """Record the actual masses (mg) dosed into ``sample_id``; a repeat replaces them."""
        with self._lock:
            record = self._samples.setdefault(sample_id, SampleRecord(sample_id))
            record.dosed_mg = dict(dosed_mg)

    def record_anneal(self, sample_id: str, anneal: AnnealRecord) -> None:
        """Append a completed anneal to ``sample_id``'s history."""
        with self._lock:
            self._samples.setdefault(sample_id, SampleRecord(sample_id)).anneals.append(anneal)

    def get(self, sample_id: str) -> SampleRecord:
        """The record of ``sample_id`` (KeyError when no such sample exists)."""
        with self._lock:
            return self._samples[sample_id]

    def __contains__(self, sample_id: object) -> bool:
        with self._lock:
            return sample_id in self._samples
