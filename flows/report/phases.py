"""The fitted phases of a stored XRD pattern, rendered on its grid for the report's overlay.

The stored analysis keeps the phase weight fractions and the apparent crystallite size, not the
fit's scale or background (:mod:`lab.phase_analysis`). To overlay the phases on the measured
counts, the mixture's profile (:func:`lab.diffraction.phase_profile` at that size, weighted by
the fractions) is matched to the counts by linear least squares in one scale and a quadratic
background; each phase is then drawn as its share of that fit above the background.

Example:
    >>> import numpy as np
    >>> from lab.diffraction import DEFAULT_TWO_THETA, mixture_profile
    >>> counts = 20000 * mixture_profile({"BaTiO3": 0.8, "TiO2": 0.2}, DEFAULT_TWO_THETA, 60.0) + 300.0
    >>> overlay = fitted_phases(DEFAULT_TWO_THETA, counts, {"BaTiO3": 0.8, "TiO2": 0.2}, 60.0)
    >>> sorted(overlay.phases), bool(np.abs(overlay.total - counts).max() < 1.0)
    (['BaTiO3', 'TiO2'], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lab.diffraction import PHASES, phase_profile, stick_pattern

__all__ = ["MIN_SHOWN_FRACTION", "PhaseOverlay", "fitted_phases"]

#: Phases below this weight fraction are left out of the overlay (invisible at the report's scale).
MIN_SHOWN_FRACTION = 0.01
#: Crystallite size (nm) used when the analysis found no phase (only the background is drawn then).
_FALLBACK_NM = 60.0


@dataclass(frozen=True)
class PhaseOverlay:
    """Curves on the pattern's grid (counts).

    Attributes:
        background: the fitted quadratic background.
        total: background plus every phase (the whole fit).
        phases: phase name -> background plus that phase's share, for phases above :data:`MIN_SHOWN_FRACTION`.
        peaks: phase name -> its reference peak positions on the grid's range (degrees 2-theta), for the same phases.
    """

    background: np.ndarray
    total: np.ndarray
    phases: dict[str, np.ndarray]
    peaks: dict[str, np.ndarray]


def fitted_phases(two_theta: np.ndarray, counts: np.ndarray, fractions: Mapping[str, float],
                  crystallite_nm: float | None) -> PhaseOverlay:
    """The fitted phases of a pattern as curves on its grid.

    Args:
        two_theta: the measured grid (degrees 2-theta, increasing).
        counts: the measured counts on it.
        fractions: the analysis's weight fractions (unknown phase names are skipped).
        crystallite_nm: the analysis's apparent crystallite size (nm), or ``None``.

    Raises:
        ValueError: the grid and counts do not match, or the grid is outside the phase library's range.
    """
    grid = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    if grid.ndim != 1 or y.shape != grid.shape:
        raise ValueError(f"counts shape {y.shape} must match the 1-D two_theta shape {grid.shape}")
    size = crystallite_nm if crystallite_nm and crystallite_nm > 0 else _FALLBACK_NM
    shown = {p: float(f) for p, f in fractions.items() if p in PHASES and float(f) > 0.0}
    profiles = {p: f * phase_profile(p, grid, size) for p, f in shown.items()}
    mixture = np.sum(list(profiles.values()), axis=0) if profiles else np.zeros_like(grid)
    x = (grid - grid.mean()) / max(float(np.ptp(grid)), 1e-12)
    design = np.column_stack([mixture, np.ones_like(grid), x, x**2])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    scale = max(float(coef[0]), 0.0)
    background = design[:, 1:] @ coef[1:]
    total = background + scale * mixture
    phases = {p: background + scale * prof for p, prof in profiles.items() if shown[p] >= MIN_SHOWN_FRACTION}
    peaks = {p: _peaks_in(p, float(grid[0]), float(grid[-1])) for p in phases}
    return PhaseOverlay(background, total, phases, peaks)


def _peaks_in(name: str, low: float, high: float) -> np.ndarray:
    """Positions of the phase's reference peaks within ``low``-``high`` (degrees) stronger than 1% of its strongest."""
    positions, intensities = stick_pattern(name)
    keep = (positions >= low) & (positions <= high) & (intensities >= 0.01 * intensities.max())
    return np.asarray(positions[keep])
