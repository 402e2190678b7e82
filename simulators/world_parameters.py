"""The parameters of one materials world: kinetics, thermodynamics and the pattern's counts.

:class:`WorldParameters` holds every constant of the model in :mod:`simulators.world`; the default
world is the one the simulated lab runs, and :meth:`WorldParameters.sample` draws others for RL
training tasks. Units: °C, hours, kJ/mol, nm, counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["ATMOSPHERES", "R_GAS", "WorldParameters"]

#: Gas constant, J/(mol K).
R_GAS = 8.314462618
#: Furnace atmospheres the world knows.
ATMOSPHERES: tuple[str, ...] = ("air", "O2", "N2", "Ar")
_MAY_BE_ZERO = ("background_low_angle_counts", "intermediate_share")


@dataclass(frozen=True)
class WorldParameters:
    """Parameters of one materials world (one task of the family).

    Attributes:
        activation_energy_kj_mol: Ea of the BaTiO3-forming reaction (kJ/mol).
        prefactor_per_h: Arrhenius prefactor A (1/h).
        avrami_exponent: n in ``X = 1 - exp(-(k t)**n)``.
        carbonate_onset_c, carbonate_width_c: logistic onset (°C) and width (°C) of BaCO3
            decomposition in air.
        atmosphere_rate: rate multiplier per atmosphere (CO2 removal).
        atmosphere_carbonate_shift_c: shift (°C) of the carbonate onset per atmosphere.
        atmosphere_hex_shift_c: shift (°C) of the hexagonal-decomposition onset per atmosphere.
        volatilisation_onset_c, volatilisation_rate_per_h, volatilisation_width_c: Ba loss.
        hex_onset_c, hex_rate_per_h, hex_width_c: BaTiO3 -> hexagonal decomposition.
        hex_ti_shift_c: lowering (°C) of the hexagonal onset per unit Ti excess ``1 - Ba/Ti``.
        intermediate_share: q, the transient Ba2TiO4 share of reacted BaTiO3 at low conversion.
        initial_crystallite_nm: L0 (nm); growth_activation_kj_mol: Eg (kJ/mol);
        growth_prefactor_nm3_per_h: G (nm³/h).
        counts_scale: counts per unit profile intensity (sets the peak height, ~1.5x for BaTiO3).
        background_counts: flat background (counts); background_low_angle_counts and
        background_decay_deg: extra background ``b1 exp(-(2theta - 10) / decay)``.

    Example:
        >>> p = WorldParameters.default()
        >>> WorldParameters.from_dict(p.to_dict()) == p
        True
    """

    activation_energy_kj_mol: float = 180.0
    prefactor_per_h: float = math.exp(180e3 / (R_GAS * 1373.15))  # k(1100 °C) = 1 per hour
    avrami_exponent: float = 1.5
    carbonate_onset_c: float = 780.0
    carbonate_width_c: float = 40.0
    atmosphere_rate: dict[str, float] = field(default_factory=lambda: {"air": 1.0, "O2": 1.15, "N2": 1.3, "Ar": 1.35})
    atmosphere_carbonate_shift_c: dict[str, float] = field(
        default_factory=lambda: {"air": 0.0, "O2": -30.0, "N2": -40.0, "Ar": -40.0})
    atmosphere_hex_shift_c: dict[str, float] = field(
        default_factory=lambda: {"air": 0.0, "O2": 25.0, "N2": -70.0, "Ar": -80.0})
    volatilisation_onset_c: float = 1250.0
    volatilisation_rate_per_h: float = 0.004
    volatilisation_width_c: float = 50.0
    hex_onset_c: float = 1330.0
    hex_rate_per_h: float = 0.05
    hex_width_c: float = 40.0
    hex_ti_shift_c: float = 400.0
    intermediate_share: float = 0.35
    initial_crystallite_nm: float = 20.0
    growth_activation_kj_mol: float = 300.0
    growth_prefactor_nm3_per_h: float = 4.2e5 * math.exp(300e3 / (R_GAS * 1373.15))  # ~150 nm at 1100 °C, 8 h
    counts_scale: float = 8000.0
    background_counts: float = 150.0
    background_low_angle_counts: float = 400.0
    background_decay_deg: float = 15.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, dict):
                if set(value) != set(ATMOSPHERES) or not all(math.isfinite(v) for v in value.values()):
                    raise ValueError(f"WorldParameters.{name} must map exactly {ATMOSPHERES} to finite numbers")
            elif not math.isfinite(value) or value < 0 or (value == 0 and name not in _MAY_BE_ZERO):
                raise ValueError(f"WorldParameters.{name} must be a positive finite number, got {value!r}")
        if min(self.atmosphere_rate.values()) <= 0 or not 0 <= self.intermediate_share < 1:
            raise ValueError("WorldParameters needs atmosphere_rate > 0 and 0 <= intermediate_share < 1")

    def __hash__(self) -> int:
        return hash(tuple((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in asdict(self).items()))

    @classmethod
    def default(cls) -> WorldParameters:
        """The reference world."""
        return cls()

    @classmethod
    def sample(cls, rng: np.random.Generator) -> WorldParameters:
        """Draw a related world (same chemistry, shifted kinetics and thresholds) for training."""
        u = rng.uniform
        ea = u(150.0, 220.0)
        t_ref_k = u(1040.0, 1160.0) + 273.15  # where k = 1 per hour
        eg = u(250.0, 350.0)
        base = cls()
        return cls(
            activation_energy_kj_mol=ea,
            prefactor_per_h=math.exp(ea * 1e3 / (R_GAS * t_ref_k)),
            avrami_exponent=u(1.0, 2.5),
            carbonate_onset_c=u(740.0, 840.0),
            atmosphere_rate={a: r * u(0.85, 1.15) for a, r in base.atmosphere_rate.items()},
            atmosphere_carbonate_shift_c={a: s + u(-15, 15) for a, s in base.atmosphere_carbonate_shift_c.items()},
            atmosphere_hex_shift_c={a: s + u(-20, 20) for a, s in base.atmosphere_hex_shift_c.items()},
            volatilisation_onset_c=u(1200.0, 1320.0),
            volatilisation_rate_per_h=math.exp(u(math.log(0.002), math.log(0.01))),
            hex_onset_c=u(1280.0, 1400.0),
            hex_rate_per_h=math.exp(u(math.log(0.02), math.log(0.1))),
            hex_ti_shift_c=u(200.0, 800.0),
            intermediate_share=u(0.1, 0.5),
            growth_activation_kj_mol=eg,
            growth_prefactor_nm3_per_h=math.exp(u(math.log(1e5), math.log(1e6))) * math.exp(eg * 1e3 / (R_GAS * 1373.15)),
            counts_scale=base.counts_scale * math.exp(u(math.log(0.5), math.log(2.0))),
            background_counts=base.background_counts * u(0.5, 2.0),
            background_low_angle_counts=base.background_low_angle_counts * u(0.0, 2.0),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldParameters:
        """Rebuild parameters from :meth:`to_dict` output (missing keys take defaults)."""
        changes: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else float(v) for k, v in data.items()}
        return replace(cls(), **changes)
