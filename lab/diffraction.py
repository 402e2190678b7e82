"""Powder X-ray diffraction of the Ba-Ti-O(-C) phases of a BaTiO3 solid-state synthesis.

A small phase library: crystal structures built with :meth:`Structure.from_spacegroup`, their
reference stick patterns from :class:`XRDCalculator` (Cu Kα), and profiles rendered on a 2-theta
grid with Scherrer broadening. Both the simulated diffractometer and the phase analysis use it.

Phases (:data:`PHASES`):

========== ======================= =============================================================
name       role                    structure
========== ======================= =============================================================
BaTiO3     target perovskite       cubic Pm-3m, a = 4.010 Å (Ba 1a, Ti 1b, O 3c)
BaCO3      unreacted/excess Ba     witherite, Pnma (a = 6.428, b = 5.313, c = 8.896 Å), aragonite
                                   type; coordinates from the Pmcn setting, rounded
TiO2       unreacted/excess Ti     rutile, P4_2/mnm, a = 4.594, c = 2.959 Å, O x = 0.3048
Ba2TiO4    Ba-rich impurity        **simplified**: K2NiF4 (Ruddlesden-Popper n = 1) I4/mmm stand-in,
                                   a = 4.00, c = 13.30 Å. Real beta-Ba2TiO4 is monoclinic P2_1/n
                                   with TiO4 tetrahedra; the stand-in has the right chemistry and
                                   its own distinct peaks (e.g. 002 near 13.3°), not the real ones.
BaTiO3_hex high-T decomposition    hexagonal BaTiO3, P6_3/mmc, a = 5.735, c = 14.05 Å (6H type),
           product (Ti-excess and  formed above the cubic stability range; favoured by Ti excess
           low-pO2 favoured)       and reducing atmospheres
========== ======================= =============================================================

Intensity normalisation (so that weight fractions mix linearly): the integrated intensity a phase
contributes per unit weight fraction is proportional to ``sum(I_hkl) / (V_cell**2 * density)``
(``I_hkl`` per unit cell with Lorentz-polarisation, from pymatgen; the matrix absorption of a
mixture is common to all its phases and cancels). This is a computed reference intensity ratio.
Sticks are scaled by one common constant so that BaTiO3's sticks in 5-100° sum to 1: a profile of
a pure phase has area ``weight_scale(name)`` (counts-free units x degrees), 1.0 for BaTiO3.

Peak shape: area-normalised pseudo-Voigt (:data:`PSEUDO_VOIGT_ETA` Lorentzian share) with FWHM
``sqrt(beta_scherrer**2 + INSTRUMENT_FWHM_DEG**2)`` where the Scherrer width in radians of 2-theta
is ``beta = K * lambda / (L * cos(theta))``, K = 0.9, lambda = 1.54184 Å, L the crystallite size.

Example:
    >>> import numpy as np
    >>> grid = two_theta_grid(20.0, 60.0, 0.02)
    >>> y = mixture_profile({"BaTiO3": 0.8, "TiO2": 0.2}, grid, crystallite_nm=50.0)
    >>> round(float(grid[np.argmax(y)]), 2)  # BaTiO3 (110)
    31.56
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS, XRDCalculator
from pymatgen.core import Composition, Lattice, Structure

__all__ = [
    "DEFAULT_TWO_THETA",
    "INSTRUMENT_FWHM_DEG",
    "PHASES",
    "PSEUDO_VOIGT_ETA",
    "SCHERRER_K",
    "STICK_RANGE_DEG",
    "WAVELENGTH_A",
    "mixture_profile",
    "molar_mass",
    "peak_fwhm_deg",
    "phase_formula",
    "phase_profile",
    "phase_structure",
    "stick_pattern",
    "two_theta_grid",
    "weight_scale",
]

#: X-ray source: Cu Kα (Kα1/Kα2 weighted mean), Å.
WAVELENGTH_A: float = float(WAVELENGTHS["CuKa"])
#: Scherrer shape constant (dimensionless).
SCHERRER_K: float = 0.9
#: Instrumental peak width (FWHM, degrees 2-theta), added in quadrature to the Scherrer width.
INSTRUMENT_FWHM_DEG: float = 0.06
#: Lorentzian fraction of the pseudo-Voigt peak shape.
PSEUDO_VOIGT_ETA: float = 0.4
#: 2-theta range (degrees) over which stick patterns are computed; grids must lie inside it.
STICK_RANGE_DEG: tuple[float, float] = (5.0, 100.0)
#: Sticks this far (degrees) outside a grid still contribute their tails to it.
_TAIL_MARGIN_DEG = 5.0
#: Sticks weaker than this fraction of a phase's strongest one are dropped.
_MIN_RELATIVE_STICK = 1e-3


@dataclass(frozen=True)
class _PhaseSpec:
    formula: str
    space_group: str
    lattice: tuple[float, float, float, float, float, float]  # a, b, c (Å), alpha, beta, gamma (°)
    species: tuple[str, ...]
    coords: tuple[tuple[float, float, float], ...]


_SPECS: dict[str, _PhaseSpec] = {
    "BaTiO3": _PhaseSpec("BaTiO3", "Pm-3m", (4.010, 4.010, 4.010, 90, 90, 90), ("Ba", "Ti", "O"),
                         ((0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0))),
    "BaCO3": _PhaseSpec("BaCO3", "Pnma", (6.4284, 5.3126, 8.8958, 90, 90, 90), ("Ba", "C", "O", "O"),
                        ((0.7548, 0.25, 0.4165), (0.9170, 0.25, 0.7546), (0.9192, 0.25, 0.9004),
                         (0.9122, 0.4612, 0.6846))),
    "TiO2": _PhaseSpec("TiO2", "P4_2/mnm", (4.594, 4.594, 2.959, 90, 90, 90), ("Ti", "O"),
                       ((0, 0, 0), (0.3048, 0.3048, 0))),
    "Ba2TiO4": _PhaseSpec("Ba2TiO4", "I4/mmm", (4.00, 4.00, 13.30, 90, 90, 90), ("Ba", "Ti", "O", "O"),
                          ((0, 0, 0.355), (0, 0, 0), (0, 0.5, 0), (0, 0, 0.152))),
    "BaTiO3_hex": _PhaseSpec("BaTiO3", "P6_3/mmc", (5.735, 5.735, 14.05, 90, 90, 120),
                             ("Ba", "Ba", "Ti", "Ti", "O", "O"),
                             ((0, 0, 0.25), (1 / 3, 2 / 3, 0.09671), (0, 0, 0), (1 / 3, 2 / 3, 0.84617),
                              (0.5184, 0.0368, 0.25), (0.8355, 0.6710, 0.0805))),
}

#: Names of the phases in the library, target first.
PHASES: tuple[str, ...] = tuple(_SPECS)


def two_theta_grid(start: float = 10.0, stop: float = 80.0, step: float = 0.02) -> np.ndarray:
    """An evenly spaced 2-theta grid (degrees), ``start`` inclusive, ``stop`` exclusive.

    Raises:
        ValueError: when ``step`` is not positive or the range is empty or outside
            :data:`STICK_RANGE_DEG`.
    """
    if not step > 0 or not stop > start:
        raise ValueError(f"two-theta grid needs start < stop and step > 0, got {start}, {stop}, {step}")
    grid = start + step * np.arange(int(round((stop - start) / step)))
    _check_grid(grid)
    return grid


def _check_grid(two_theta: np.ndarray) -> np.ndarray:
    grid = np.asarray(two_theta, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError("two_theta must be a 1-D, finite, strictly increasing array of at least 2 angles (degrees)")
    lo, hi = STICK_RANGE_DEG
    if grid[0] < lo or grid[-1] > hi:
        raise ValueError(f"two_theta spans {grid[0]:g}-{grid[-1]:g}°, expected within {lo:g}-{hi:g}°")
    return grid


#: The default scan: 10-80° 2-theta in 0.02° steps (3500 points).
DEFAULT_TWO_THETA: np.ndarray = two_theta_grid()
DEFAULT_TWO_THETA.setflags(write=False)


def _spec(name: str) -> _PhaseSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown phase {name!r}, expected one of {', '.join(PHASES)}") from None


def phase_formula(name: str) -> str:
    """The chemical formula of phase ``name`` (e.g. ``"BaTiO3"`` for ``"BaTiO3_hex"``)."""
    return _spec(name).formula


@lru_cache(maxsize=None)
def _structure(name: str) -> Structure:
    spec = _spec(name)
    return Structure.from_spacegroup(spec.space_group, Lattice.from_parameters(*spec.lattice),
                                     list(spec.species), [list(c) for c in spec.coords])


def phase_structure(name: str) -> Structure:
    """The crystal structure of phase ``name`` (a fresh copy; safe to modify).

    Raises:
        ValueError: for a name not in :data:`PHASES`.
    """
    return _structure(name).copy()


@lru_cache(maxsize=None)
def _raw_sticks(name: str) -> tuple[np.ndarray, np.ndarray, float]:
    structure = _structure(name)
    pattern = XRDCalculator(wavelength="CuKa").get_pattern(structure, scaled=False, two_theta_range=STICK_RANGE_DEG)
    per_weight = 1.0 / (structure.volume**2 * float(structure.density))
    return np.asarray(pattern.x, dtype=np.float64), np.asarray(pattern.y, dtype=np.float64), per_weight


@lru_cache(maxsize=None)
def stick_pattern(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reference sticks of phase ``name``: positions (degrees 2-theta) and integrated intensities.

    Intensities are per unit weight fraction, on the common scale on which BaTiO3's sticks sum to
    1 (see the module docstring). Sticks weaker than 0.1% of the phase's strongest are dropped
    (invisible under counting noise; they only cost rendering time). Cached; arrays are read-only.

    Raises:
        ValueError: for a name not in :data:`PHASES`.
    """
    x, y, per_weight = _raw_sticks(name)
    _, y_ref, per_weight_ref = _raw_sticks("BaTiO3")
    keep = y >= _MIN_RELATIVE_STICK * y.max()
    intensity = y[keep] * per_weight / (y_ref.sum() * per_weight_ref)
    x = x[keep]
    x.setflags(write=False)
    intensity.setflags(write=False)
    return x, intensity


def weight_scale(name: str) -> float:
    """Integrated intensity of phase ``name`` per unit weight fraction, relative to BaTiO3 (= 1)."""
    return float(stick_pattern(name)[1].sum())


def peak_fwhm_deg(two_theta: np.ndarray | float, crystallite_nm: float) -> np.ndarray:
    """Peak FWHM (degrees 2-theta) at ``two_theta`` for crystallites of ``crystallite_nm`` (nm).

    Scherrer width ``K * lambda / (L * cos(theta))`` (radians) converted to degrees, combined in
    quadrature with :data:`INSTRUMENT_FWHM_DEG`.

    Raises:
        ValueError: when ``crystallite_nm`` is not a positive finite number.
    """
    if not (np.isfinite(crystallite_nm) and crystallite_nm > 0):
        raise ValueError(f"crystallite_nm must be a positive finite size in nm, got {crystallite_nm!r}")
    theta = np.radians(np.asarray(two_theta, dtype=np.float64) / 2.0)
    scherrer = np.degrees(SCHERRER_K * WAVELENGTH_A / (crystallite_nm * 10.0 * np.cos(theta)))
    return np.sqrt(scherrer**2 + INSTRUMENT_FWHM_DEG**2)


def phase_profile(name: str, two_theta: np.ndarray, crystallite_nm: float) -> np.ndarray:
    """The diffraction profile of pure phase ``name`` on ``two_theta`` (degrees).

    Each stick becomes an area-normalised pseudo-Voigt peak of width :func:`peak_fwhm_deg`, so
    the profile's area (over all angles) is :func:`weight_scale` of the phase: profiles of
    several phases, weighted by weight fraction and summed, give the mixture's pattern.

    Args:
        name: a phase in :data:`PHASES`.
        two_theta: 1-D increasing grid of angles (degrees) inside :data:`STICK_RANGE_DEG`.
        crystallite_nm: crystallite size (nm) for Scherrer broadening.

    Raises:
        ValueError: for an unknown phase, a bad grid or a non-positive crystallite size.
    """
    grid = _check_grid(two_theta)
    positions, areas = stick_pattern(name)
    keep = (positions > grid[0] - _TAIL_MARGIN_DEG) & (positions < grid[-1] + _TAIL_MARGIN_DEG)
    positions, areas = positions[keep], areas[keep]
    fwhm = peak_fwhm_deg(positions, crystallite_nm)
    # float32 halves the cost of the (points x sticks) evaluation; relative error ~1e-7.
    u2 = np.square(((grid[:, None] - positions[None, :]) / fwhm[None, :]).astype(np.float32))
    gauss = np.exp(np.float32(-4.0 * np.log(2.0)) * u2)
    lorentz = np.float32(1.0) / (np.float32(1.0) + np.float32(4.0) * u2)
    g_norm = (1.0 - PSEUDO_VOIGT_ETA) * np.sqrt(4.0 * np.log(2.0) / np.pi)
    l_norm = PSEUDO_VOIGT_ETA * 2.0 / np.pi
    shapes = np.float32(g_norm) * gauss + np.float32(l_norm) * lorentz
    return (shapes @ (areas / fwhm).astype(np.float32)).astype(np.float64)


def mixture_profile(fractions: Mapping[str, float], two_theta: np.ndarray, crystallite_nm: float) -> np.ndarray:
    """Weight-fraction-weighted sum of :func:`phase_profile` over ``fractions``.

    Fractions are used as given (not renormalised); phases left out contribute nothing.

    Raises:
        ValueError: for an unknown phase, a negative or non-finite fraction, or a bad grid.
    """
    grid = _check_grid(two_theta)
    total = np.zeros_like(grid)
    for name, value in fractions.items():
        _spec(name)
        fraction = float(value)
        if not (np.isfinite(fraction) and fraction >= 0):
            raise ValueError(f"weight fraction of {name} must be finite and >= 0, got {fraction!r}")
        if fraction > 0:
            total += fraction * phase_profile(name, grid, crystallite_nm)
    return total


def molar_mass(name: str) -> float:
    """Molar mass (g/mol) of one formula unit of phase ``name``."""
    return float(Composition(phase_formula(name)).weight)
