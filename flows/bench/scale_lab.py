"""The lab and the campaigns of ``lab bench scale``: N instruments in proportion, C small campaigns, the limit.

**The lab** (:func:`lab_shape`): of ``N`` instruments, 10 % dosing stations, 16 % diffractometers
and 4 % UV-Vis spectrometers (each rounded, at least one of each), the rest furnaces. 50 gives 5
dosing stations, 35 furnaces, 8 diffractometers and 2 spectrometers; 10 gives 1, 6, 2 and 1. With
the campaign below the furnaces are the bottleneck by far (stage capacities per hour at 50: dosing
30, furnaces 7, XRD 15.6, UV-Vis 212), as in a real solid-state lab.

**The campaigns** (:func:`scale_spec`): the throughput bench's campaign (``flows.bench.throughput``:
350-450 °C at 10 °C/min, dwell 0.625-6.125 h, so furnace programs of 2-8 h, 5.0 h on average; 10 min
dosing of 6000 mg; a 10-80° scan by 0.02°, 30.7 min) plus a 400-800 nm UV-Vis spectrum by 5 nm
(34 s), each campaign naming every instrument of the lab, so they compete for them through the
ledger. Batches of 4, a small experiment budget each, policy ``sobol`` or ``random`` (proposals
cost milliseconds: the bench measures the controller, not the policy) or any other. The ``quick``
variant (the fast test) anneals for 0.5-1 h (1.9-2.9 h programs) and scans 20-60° by 0.04°.

**The limit** (:func:`scale_limit`): :func:`flows.bench.throughput.physical_limit` over the window,
with each furnace's usable hours also shortened by the spectrum after the scan. ``ideal_ratio`` is
what a perfect scheduler would reach on average: an anneal still running when the window closes
does not count, which costs each furnace ``(mu^2 - sigma^2) / (2 mu^2)`` experiments (renewal
theory; mu and sigma from the spec's program durations, about 0.45 here).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flows.bench.throughput import physical_limit
from flows.errors import FlowError
from instruments.furnace import anneal_duration_s
from instruments.spectrometer import spectrum_duration_s
from lab.spec import CampaignSpec, ContinuousSpec, InstrumentsSpec, parse_spec

__all__ = ["LabShape", "auto_budget", "lab_shape", "scale_limit", "scale_spec"]

#: Fractions of the lab's instruments by role (rounded, at least one each); furnaces take the rest.
SHARES = {"dosing": 0.10, "diffractometer": 0.16, "spectrometer": 0.04}
#: Instrument names by role: ``<prefix>-<i>``.
PREFIXES = {"dosing": "doser", "furnaces": "furnace", "diffractometer": "xrd", "spectrometer": "uvvis"}

_SPEC = """\
name = "scale bench {index}"
description = "Furnace programs of {programs}, 10 min dosing, XRD and a UV-Vis spectrum; every instrument of the lab."
seed = {seed}
batch_size = 4
[budget]
experiments = {experiments}
[[parameters]]
name = "cations"
type = "composition"
elements = {{ Ba = [0.35, 0.65], Ti = [0.35, 0.65] }}
[[parameters]]
name = "temperature_c"
type = "continuous"
low = 350.0
high = 450.0
[[parameters]]
name = "dwell_h"
type = "continuous"
low = {dwell_low}
high = {dwell_high}
[[parameters]]
name = "atmosphere"
type = "categorical"
choices = ["air", "O2", "N2"]
[[objectives]]
name = "target_fraction"
[policy]
name = "{policy}"
[workflow]
batch_mg = 6000.0
ramp_c_per_min = 10.0
two_theta = {two_theta}
uvvis_nm = [400.0, 800.0, 5.0]
[instruments]
dosing = {dosing}
furnaces = {furnaces}
diffractometer = {diffractometer}
spectrometer = {spectrometer}
"""

_VARIANTS = {"full": {"programs": "2-8 h", "dwell_low": 0.625, "dwell_high": 6.125, "two_theta": [10.0, 80.0, 0.02]},
             "quick": {"programs": "1.9-2.9 h", "dwell_low": 0.5, "dwell_high": 1.0, "two_theta": [20.0, 60.0, 0.04]}}


@dataclass(frozen=True)
class LabShape:
    """How many instruments of each role the lab holds, and their names.

    Attributes:
        dosing, furnaces, diffractometer, spectrometer: instruments of each role.
    """

    dosing: int
    furnaces: int
    diffractometer: int
    spectrometer: int

    @property
    def total(self) -> int:
        """Instruments in all."""
        return self.dosing + self.furnaces + self.diffractometer + self.spectrometer

    def roles(self) -> InstrumentsSpec:
        """The instrument names by role (``doser-1``, ``furnace-1``, ``xrd-1``, ``uvvis-1``...)."""
        return InstrumentsSpec(**{role: [f"{PREFIXES[role]}-{i}" for i in range(1, getattr(self, role) + 1)]
                                  for role in PREFIXES})

    def to_dict(self) -> dict[str, int]:
        """Counts by role, and the total."""
        return {**asdict(self), "total": self.total}


def lab_shape(instruments: int) -> LabShape:
    """The lab of ``instruments`` instruments in the proportions of :data:`SHARES` (see the module docstring).

    Raises:
        FlowError: fewer than 4 instruments (one of each kind), or too few left for furnaces.
    """
    if instruments < 4:
        raise FlowError(f"--instruments {instruments}: a lab needs at least 4 (one of each kind)")
    counts = {role: max(1, round(share * instruments)) for role, share in SHARES.items()}
    furnaces = instruments - sum(counts.values())
    if furnaces < 1:
        raise FlowError(f"--instruments {instruments}: no furnace left after {counts}")
    return LabShape(furnaces=furnaces, **counts)


def scale_spec(shape: LabShape, index: int, experiments: int, seed: int, policy: str = "sobol",
               quick: bool = False) -> tuple[str, CampaignSpec]:
    """Campaign ``index`` of the bench (TOML text and parsed spec), naming every instrument of ``shape``."""
    roles = shape.roles()
    names = {role: json.dumps(getattr(roles, role)) for role in PREFIXES}
    text = _SPEC.format(index=index, seed=seed + index, experiments=int(experiments), policy=policy, **names,
                        **_VARIANTS["quick" if quick else "full"])
    return text, parse_spec(text, source=f"<scale bench campaign {index}>")


def _program_moments_h(spec: CampaignSpec, grid: int = 41) -> tuple[float, float]:
    """Mean and variance of the furnace program's duration (hours) over the uniform temperature and dwell."""
    params = {p.name: p for p in spec.parameters}
    temp, dwell = params[spec.workflow.temperature], params[spec.workflow.dwell]
    if not isinstance(temp, ContinuousSpec) or not isinstance(dwell, ContinuousSpec):
        raise TypeError("the scale bench's temperature and dwell are continuous parameters")
    mids = (np.arange(grid) + 0.5) / grid
    t = temp.low + (temp.high - temp.low) * mids
    d = dwell.low + (dwell.high - dwell.low) * mids
    hours = np.array([[anneal_duration_s(ti, di, spec.workflow.ramp_c_per_min) / 3600.0 for di in d] for ti in t])
    return float(hours.mean()), float(hours.var())


def scale_limit(spec: CampaignSpec, hours: float) -> dict[str, Any]:
    """The physical limit over a window of ``hours`` (hours) on the lab ``spec`` names (see the module docstring).

    Returns:
        ``value`` (experiments), ``per_hour`` (experiments per hour), ``ideal_ratio`` (a perfect
        scheduler's expected ratio), ``renewal_loss`` (experiments), and the throughput bench's
        :class:`~flows.bench.throughput.Limit` fields (``window_h``, ``durations_h``, ``stage_capacity``,
        ``bottleneck``, ``instruments``...).
    """
    base = physical_limit(spec, hours / 24.0)
    furnaces = base.instruments["furnace"]
    uvvis_nm = spec.workflow.uvvis_nm
    uvvis_h = spectrum_duration_s(*uvvis_nm) / 3600.0 if uvvis_nm is not None else 0.0
    usable = max(base.furnace_hours - furnaces * uvvis_h, 0.0)
    value = usable / base.durations_h["furnace"]
    mu, var = _program_moments_h(spec)
    loss = furnaces * (mu * mu - var) / (2.0 * mu * mu)
    return {**asdict(base), "value": round(value, 3), "per_hour": round(value / hours, 4) if hours else 0.0,
            "furnace_hours": round(usable, 3), "uvvis_h": round(uvvis_h, 4), "program_mean_h": round(mu, 4),
            "program_sd_h": round(math.sqrt(var), 4), "renewal_loss": round(loss, 2),
            "ideal_ratio": round(max(value - loss, 0.0) / value, 4) if value else 0.0}


def auto_budget(limit: float, campaigns: int) -> int:
    """Experiments per campaign so that the queue outlasts the window: 1.25 x the limit, shared out (at least 2)."""
    return max(2, math.ceil(1.25 * limit / max(campaigns, 1)))
