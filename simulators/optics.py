"""Optical absorption of the simulated lab's powders: what the UV-Vis spectrometer sees.

Each phase absorbs above its band gap with the Tauc form of a direct-allowed-like edge,
``alpha(E) ~ sqrt(E - Eg)``, smoothed over ``URBACH_EV`` (an Urbach tail) so that the edge has no
kink; a powder's Kubelka-Munk absorbance is the weight-fraction sum of its phases' absorption,
plus a flat scattering baseline and Gaussian detector noise. Photon energy ``E = 1239.84 / lambda``
(eV, nm). Band gaps (eV): BaTiO3 3.2, hexagonal BaTiO3 3.0, TiO2 (rutile) 3.0, Ba2TiO4 4.1,
BaCO3 5.3 (transparent over 250-800 nm).

Example:
    >>> import numpy as np
    >>> nm = np.array([300.0, 450.0])
    >>> a = absorbance({"BaTiO3": 1.0}, nm, np.random.default_rng(0), noise=0.0)
    >>> bool(a[0] > 5 * a[1])  # absorbs in the UV, not in the visible
    True
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["BAND_GAP_EV", "absorbance"]

#: Band gap of each phase (eV).
BAND_GAP_EV: dict[str, float] = {"BaTiO3": 3.2, "BaTiO3_hex": 3.0, "TiO2": 3.0, "Ba2TiO4": 4.1, "BaCO3": 5.3}
#: Width of the absorption tail below the gap (eV).
URBACH_EV = 0.05
#: Scattering baseline (Kubelka-Munk units).
BASELINE = 0.02
HC_EV_NM = 1239.84


def absorbance(fractions: Mapping[str, float], wavelength_nm: np.ndarray, rng: np.random.Generator,
               noise: float = 0.005) -> np.ndarray:
    """Kubelka-Munk absorbance of a powder with phase weight ``fractions`` at ``wavelength_nm``, shape of the grid."""
    energy = HC_EV_NM / np.asarray(wavelength_nm, dtype=np.float64)
    total = np.full(energy.shape, BASELINE)
    for phase, weight in fractions.items():
        gap = BAND_GAP_EV.get(phase)
        if gap is None or weight <= 0:
            continue
        above = URBACH_EV * np.logaddexp(0.0, (energy - gap) / URBACH_EV)  # smooth max(E - Eg, 0)
        total += weight * np.sqrt(above)
    return total + noise * rng.standard_normal(energy.shape)
