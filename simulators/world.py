"""The hidden ground truth of the simulated lab: BaTiO3 from BaCO3 + TiO2 by solid-state reaction.

The controller never reads this module's answers; the simulated diffractometer turns them into
counts, and the analysis (:mod:`lab.phase_analysis`) estimates phases from those counts.

Model (units: °C, hours, mg, nm, degrees 2-theta; T in kelvin inside exponentials):

1. **Cations.** Dosed masses become moles, ``n = m / M`` (``M`` from pymatgen ``Composition``).
2. **Ba volatilisation** above an onset: the Ba kept is ``exp(-sum_i v_vol(T_i) t_i)`` with
   ``v_vol(T) = vol_rate * exp((T - vol_onset) / vol_width)`` (per hour).
3. **Conversion** (Avrami with Arrhenius rate, thermal doses added over anneals):
   ``X = 1 - exp(-tau**n)``, ``tau = sum_i k(T_i) t_i``, ``k(T) = A exp(-Ea / (R T)) * f_atm *
   s((T - T_carb,atm) / w_carb)`` where ``s`` is the logistic function: BaCO3 only reacts once it
   decomposes (onset ``T_carb`` raised by the CO2 of air, lowered in O2/N2/Ar flow), and ``f_atm``
   speeds CO2 removal in flowing gas. ``t_i`` is the dwell plus the heating and cooling ramps'
   equivalent time ``2 * integral(k dT) / (60 * ramp)``.
4. **Lever rule.** A fraction ``X`` of both precursors reacts; the reacted cations form
   BaTiO3 + Ba2TiO4 on the Ba-rich side, BaTiO3 + TiO2 on the Ti-rich side; the rest remains as
   BaCO3 and TiO2. A transient Ba2TiO4 intermediate holds a share ``q (1 - X)`` of the reacted
   BaTiO3 (``2 BaTiO3 -> Ba2TiO4 + TiO2``), vanishing at full conversion.
5. **Decomposition.** A share ``1 - exp(-sum_i v_hex(T_i) t_i)`` of BaTiO3 turns hexagonal, with
   ``v_hex(T) = hex_rate * exp((T - T_hex) / hex_width)``; ``T_hex`` is lowered by reducing
   atmospheres and by Ti excess (``hex_ti_shift_c`` per unit of ``1 - Ba/Ti``).
6. **Crystallites** grow as ``L**3 = L0**3 + sum_i G exp(-Eg / (R T_i)) t_i``.

Weight fractions follow from moles times molar masses. The best target fraction lies inside the
space: Ba:Ti near 1 (slightly Ba-rich at high T), about 1050-1200 °C, several hours, O2 or air.

Example:
    >>> world = MaterialsWorld(seed=1)
    >>> dosed = {"BaCO3": 711.9, "TiO2": 288.1}  # Ba:Ti = 1.000 in 1 g
    >>> good = world.outcome(dosed, [AnnealRecord(1100.0, 8.0, 5.0, "air")])
    >>> cold = world.outcome(dosed, [AnnealRecord(700.0, 2.0, 5.0, "air")])
    >>> good.fractions["BaTiO3"] > 0.95 > 0.05 > cold.fractions["BaTiO3"]
    True
    >>> counts = world.pattern(good)  # Poisson counts on 10-80° in 0.02° steps
    >>> counts.shape
    (3500,)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pymatgen.core import Composition

from lab.diffraction import DEFAULT_TWO_THETA, PHASES, mixture_profile, molar_mass
from simulators.samples import AnnealRecord, SampleRecord
from simulators.world_parameters import ATMOSPHERES, R_GAS, WorldParameters

__all__ = ["ATMOSPHERES", "PRECURSORS", "AnnealRecord", "MaterialsWorld", "PhaseOutcome", "WorldParameters"]

#: Precursors the world knows: formula -> cation.
PRECURSORS: dict[str, str] = {"BaCO3": "Ba", "TiO2": "Ti"}
_ROOM_C = 25.0


def _kelvin(t_c: float | np.ndarray) -> float | np.ndarray:
    return np.asarray(t_c) + 273.15


@dataclass(frozen=True)
class PhaseOutcome:
    """The true phase assemblage of a sample.

    Attributes:
        fractions: weight fraction per phase of :data:`lab.diffraction.PHASES` (sum 1, >= 0).
        crystallite_nm: mean crystallite size (nm).

    Example:
        >>> o = PhaseOutcome({"BaTiO3": 1.0}, 80.0)
        >>> PhaseOutcome.from_dict(o.to_dict()) == o
        True
    """

    fractions: dict[str, float]
    crystallite_nm: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (inverse of :meth:`from_dict`)."""
        return {"fractions": dict(self.fractions), "crystallite_nm": self.crystallite_nm}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseOutcome:
        """Rebuild an outcome from :meth:`to_dict` output."""
        return cls({str(k): float(v) for k, v in data["fractions"].items()}, float(data["crystallite_nm"]))


class MaterialsWorld:
    """A seeded materials world: deterministic outcomes, noisy diffraction patterns.

    Args:
        params: the world's parameters (:meth:`WorldParameters.default` when omitted).
        seed: seeds the counting noise of :meth:`pattern` calls made without an ``rng``.
    """

    def __init__(self, params: WorldParameters | None = None, seed: int = 0) -> None:
        self.params = params if params is not None else WorldParameters.default()
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def _rate(self, t_c: np.ndarray, atmosphere: str) -> np.ndarray:
        """Conversion rate constant k (1/h) at ``t_c`` (°C) in ``atmosphere``."""
        p = self.params
        onset = p.carbonate_onset_c + p.atmosphere_carbonate_shift_c[atmosphere]
        gate = 1.0 / (1.0 + np.exp(-(np.asarray(t_c) - onset) / p.carbonate_width_c))
        arrhenius = p.prefactor_per_h * np.exp(-p.activation_energy_kj_mol * 1e3 / (R_GAS * _kelvin(t_c)))
        return arrhenius * p.atmosphere_rate[atmosphere] * gate

    @staticmethod
    def _dose(rate: Callable[[np.ndarray], np.ndarray], anneal: AnnealRecord) -> float:
        """``rate(T) * dwell`` plus the heating and cooling ramps' ``2 * integral(rate dT) / (60 ramp)``."""
        temps = np.linspace(_ROOM_C, anneal.temperature_c, 96)
        ramp = 2.0 * float(np.trapezoid(rate(temps), temps)) / (60.0 * anneal.ramp_c_per_min)
        return float(rate(np.asarray(anneal.temperature_c))) * anneal.dwell_h + ramp

    def outcome(self, dosed_mg: Mapping[str, float], anneals: Sequence[AnnealRecord]) -> PhaseOutcome:
        """The true phase weight fractions and crystallite size after ``anneals``.

        Long by design: the six steps of the model in the module docstring, in order, in one place.

        Args:
            dosed_mg: precursor masses (mg), keys from :data:`PRECURSORS`.
            anneals: furnace programs in the order applied (order does not change the result).

        Raises:
            ValueError: for unknown precursors or atmospheres, negative or all-zero masses,
                temperatures outside 25-1800 °C, negative dwell or non-positive ramp.
        """
        p = self.params
        unknown = set(dosed_mg) - set(PRECURSORS)
        if unknown or any(not (m >= 0 and math.isfinite(m)) for m in dosed_mg.values()) or sum(dosed_mg.values()) <= 0:
            raise ValueError(f"dosed_mg must give non-negative finite masses (mg) of {list(PRECURSORS)}, "
                             f"not all zero; got {dict(dosed_mg)}")
        for a in anneals:
            if a.atmosphere not in ATMOSPHERES:
                raise ValueError(f"unknown atmosphere {a.atmosphere!r}, expected one of {ATMOSPHERES}")
            if not (_ROOM_C <= a.temperature_c <= 1800.0 and a.dwell_h >= 0 and a.ramp_c_per_min > 0):
                raise ValueError(f"anneal {a} needs 25 <= temperature_c <= 1800, dwell_h >= 0, ramp_c_per_min > 0")
        n_ba = float(dosed_mg.get("BaCO3", 0.0)) / float(Composition("BaCO3").weight)
        n_ti = float(dosed_mg.get("TiO2", 0.0)) / float(Composition("TiO2").weight)

        def vol_rate(t: np.ndarray) -> np.ndarray:
            return p.volatilisation_rate_per_h * np.exp((np.asarray(t) - p.volatilisation_onset_c) / p.volatilisation_width_c)

        # a trace always stays in the crucible, so that a sample that lost nearly all its Ba still has a composition
        n_ba *= max(math.exp(-sum(self._dose(vol_rate, a) for a in anneals)), 1e-12)
        tau = sum(self._dose(partial(self._rate, atmosphere=a.atmosphere), a) for a in anneals)
        x = 1.0 - math.exp(-(tau**p.avrami_exponent))

        b, t = x * n_ba, x * n_ti  # reacted cations; the rest stays as precursors
        moles = {name: 0.0 for name in PHASES}
        moles["BaCO3"], moles["TiO2"] = n_ba - b, n_ti - t
        if b >= t:  # Ba-rich: BaTiO3 + Ba2TiO4, beyond Ba:Ti = 2 excess BaCO3
            moles["Ba2TiO4"] = min(b - t, t)
            moles["BaTiO3"] = max(2.0 * t - b, 0.0)
            moles["BaCO3"] += max(b - 2.0 * t, 0.0)
        else:  # Ti-rich: BaTiO3 + excess TiO2
            moles["BaTiO3"] = b
            moles["TiO2"] += t - b
        delta = p.intermediate_share * (1.0 - x) * moles["BaTiO3"] / 2.0  # 2 BaTiO3 -> Ba2TiO4 + TiO2
        moles["BaTiO3"] -= 2.0 * delta
        moles["Ba2TiO4"] += delta
        moles["TiO2"] += delta

        ti_excess = max(0.0, 1.0 - n_ba / n_ti) if n_ti > 0 else 0.0

        def hex_rate(t: np.ndarray, atmosphere: str) -> np.ndarray:
            onset = p.hex_onset_c + p.atmosphere_hex_shift_c[atmosphere] - p.hex_ti_shift_c * ti_excess
            return p.hex_rate_per_h * np.exp((np.asarray(t) - onset) / p.hex_width_c)

        hexagonal = 1.0 - math.exp(-sum(self._dose(partial(hex_rate, atmosphere=a.atmosphere), a) for a in anneals))
        moles["BaTiO3_hex"] = hexagonal * moles["BaTiO3"]
        moles["BaTiO3"] -= moles["BaTiO3_hex"]

        mass = {name: max(n, 0.0) * molar_mass(name) for name, n in moles.items()}
        total = sum(mass.values())
        fractions = {name: float(m / total) for name, m in mass.items()}

        def growth_rate(t: np.ndarray) -> np.ndarray:
            return p.growth_prefactor_nm3_per_h * np.exp(-p.growth_activation_kj_mol * 1e3 / (R_GAS * _kelvin(t)))

        growth = sum(self._dose(growth_rate, a) for a in anneals)
        return PhaseOutcome(fractions, float((p.initial_crystallite_nm**3 + growth) ** (1.0 / 3.0)))

    def expected_counts(self, outcome: PhaseOutcome, two_theta: np.ndarray | None = None) -> np.ndarray:
        """Noise-free counts: ``counts_scale * mixture_profile + background`` on ``two_theta`` (degrees)."""
        p = self.params
        grid = DEFAULT_TWO_THETA if two_theta is None else np.asarray(two_theta, dtype=np.float64)
        signal = p.counts_scale * mixture_profile(outcome.fractions, grid, outcome.crystallite_nm)
        background = p.background_counts + p.background_low_angle_counts * np.exp(-(grid - 10.0) / p.background_decay_deg)
        return signal + background

    def pattern(self, outcome: PhaseOutcome, two_theta: np.ndarray | None = None,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """A measured pattern (counts, float64, shape of ``two_theta``) with Poisson counting noise.

        Args:
            outcome: the true phases (from :meth:`outcome`).
            two_theta: scan grid (degrees); :data:`lab.diffraction.DEFAULT_TWO_THETA` when omitted.
            rng: noise source; the world's own seeded generator (advancing per call) when omitted.
        """
        generator = rng if rng is not None else self._rng
        return generator.poisson(self.expected_counts(outcome, two_theta)).astype(np.float64)

    def measure(self, sample: SampleRecord, rng: np.random.Generator | None = None,
                two_theta: np.ndarray | None = None) -> np.ndarray:
        """The pattern of ``sample`` as it is now: :meth:`pattern` of :meth:`outcome`."""
        return self.pattern(self.outcome(sample.dosed_mg, sample.anneals), two_theta, rng)
