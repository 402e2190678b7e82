"""Workflows: how one experiment's parameters become instrument steps, and results objectives.

The ``solid_state`` workflow (ARCHITECTURE.md, The life of one experiment, step 4) runs every experiment through three or four steps:

1. ``dose`` on a dosing station: precursor masses (mg) from the cation fractions,
2. ``anneal`` in a box furnace: temperature (°C), dwell (hours), ramp (°C/min), atmosphere,
3. ``xrd`` on the diffractometer: a 2-theta scan (degrees),
4. when ``workflow.uvvis_nm`` is set, ``uvvis`` on a UV-Vis spectrometer: an absorbance spectrum
   over ``[start, stop]`` nm by ``step`` nm (stored with the experiment's raw results),

then the analysis estimates phase weight fractions from the pattern, from which the objectives
come (never from any hidden truth).

Each measured quantity has a sense (:data:`QUANTITY_SENSES`: the target phase's fraction is
maximised, the others minimised): an objective that names no ``direction`` takes it, and so does a
reward term on a quantity that is not one of the campaign's objectives (:mod:`lab.reward`).

What a spec leaves out takes the defaults of :data:`WORKFLOW_DEFAULTS` (one place for all of them);
in particular a spec with no atmosphere parameter anneals in ``"air"``. The anneal temperature and
the dwell time have no default: they are what a solid-state campaign searches over, and the spec's
``workflow.temperature`` and ``workflow.dwell`` must name parameters for them.

Example:
    >>> from lab.spec import WorkflowSpec
    >>> params = {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 1100.0, "dwell_h": 4, "atmosphere": "air"}
    >>> [s.name for s in plan_steps(params, WorkflowSpec())]
    ['dose', 'anneal', 'xrd']
    >>> round(sum(plan_steps(params, WorkflowSpec())[0].command["masses_mg"].values()), 6)
    1000.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from pymatgen.core import Composition

from lab.instrument_kind import InstrumentKind

__all__ = ["QUANTITY_SENSES", "WORKFLOW_DEFAULTS", "PlannedStep", "WorkflowSettings", "objectives_from_phases",
           "plan_steps", "precursor_masses"]

#: Phases counted as unreacted precursors in the solid-state analysis.
UNREACTED_PHASES = ("BaCO3", "TiO2")

#: The sense of each quantity the solid-state analysis measures (all dimensionless): the target
#: phase's weight fraction is maximised; the impurity and unreacted weight fractions and the fit
#: residual are minimised.
QUANTITY_SENSES: Mapping[str, str] = MappingProxyType({
    "target_fraction": "maximize",
    "impurity_fraction": "minimize",
    "unreacted_fraction": "minimize",
    "fit_residual": "minimize",
})

#: What the solid-state workflow uses when the spec's ``[workflow]`` leaves a setting out:
#: ``atmosphere`` the furnace gas when no parameter chooses it (``workflow.default_atmosphere``);
#: ``ramp_c_per_min`` the anneal's heating rate (°C/min); ``batch_mg`` the dosed powder's mass (mg);
#: ``two_theta`` the XRD scan's start, stop and step (degrees 2θ); ``max_fit_residual`` the largest
#: phase-fit residual (dimensionless) before a pattern counts as a chemistry failure; ``precursors``
#: the precursor formula per element; ``target_phase`` the phase whose fraction is the target.
WORKFLOW_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "atmosphere": "air",
    "ramp_c_per_min": 5.0,
    "batch_mg": 1000.0,
    "two_theta": (10.0, 80.0, 0.02),
    "max_fit_residual": 0.5,
    "precursors": MappingProxyType({"Ba": "BaCO3", "Ti": "TiO2"}),
    "target_phase": "BaTiO3",
})


class WorkflowSettings(Protocol):
    """What :func:`plan_steps` reads of a workflow (``lab.spec.WorkflowSpec`` has it all).

    ``composition``, ``temperature``, ``dwell`` and ``atmosphere`` name parameters (``atmosphere``
    is ``None`` when no parameter chooses the gas, which is then ``default_atmosphere``).
    """

    @property
    def composition(self) -> str: ...
    @property
    def temperature(self) -> str: ...
    @property
    def dwell(self) -> str: ...
    @property
    def atmosphere(self) -> str | None: ...
    @property
    def default_atmosphere(self) -> str: ...
    @property
    def precursors(self) -> Mapping[str, str]: ...
    @property
    def batch_mg(self) -> float: ...
    @property
    def ramp_c_per_min(self) -> float: ...
    @property
    def two_theta(self) -> tuple[float, float, float]: ...
    @property
    def uvvis_nm(self) -> tuple[float, float, float] | None: ...


@dataclass(frozen=True)
class PlannedStep:
    """One instrument step of an experiment.

    Attributes:
        name: ``"dose"``, ``"anneal"`` or ``"xrd"``.
        instrument_kind: the :class:`~lab.instrument_kind.InstrumentKind` whose driver serves the step.
        command: the driver call's keyword arguments (JSON-able).
    """

    name: str
    instrument_kind: str
    command: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "instrument_kind": self.instrument_kind, "command": dict(self.command)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedStep:
        return cls(data["name"], data["instrument_kind"], dict(data["command"]))


def precursor_masses(fractions: Mapping[str, float], precursors: Mapping[str, str], batch_mg: float) -> dict[str, float]:
    """Precursor masses (mg) that give the cation ``fractions`` in a batch of ``batch_mg``.

    Each element comes from its precursor (e.g. Ba from BaCO3); moles of precursor are the
    element's fraction divided by its count per formula unit; masses are scaled to the batch.

    Args:
        fractions: cation fractions, e.g. ``{"Ba": 0.5, "Ti": 0.5}``.
        precursors: precursor formula per element, e.g. ``{"Ba": "BaCO3", "Ti": "TiO2"}``.
        batch_mg: total mass of the dosed powder (mg).
    """
    grams = {}
    for element, frac in fractions.items():
        comp = Composition(precursors[element])
        grams[precursors[element]] = frac / comp[element] * comp.weight
    scale = batch_mg / sum(grams.values())
    return {formula: round(g * scale, 3) for formula, g in grams.items()}


def plan_steps(params: Mapping[str, Any], wf: WorkflowSettings) -> list[PlannedStep]:
    """The instrument steps of one experiment, in order."""
    atmosphere = params[wf.atmosphere] if wf.atmosphere else wf.default_atmosphere
    start, stop, step = wf.two_theta
    return [
        PlannedStep("dose", InstrumentKind.DOSING, {"masses_mg": precursor_masses(params[wf.composition], wf.precursors, wf.batch_mg)}),
        PlannedStep("anneal", InstrumentKind.FURNACE, {
            "temperature_c": float(params[wf.temperature]),
            "dwell_h": float(params[wf.dwell]),
            "ramp_c_per_min": wf.ramp_c_per_min,
            "atmosphere": str(atmosphere),
        }),
        PlannedStep("xrd", InstrumentKind.XRD, {"start_deg": start, "stop_deg": stop, "step_deg": step}),
        *([] if wf.uvvis_nm is None else [PlannedStep("uvvis", InstrumentKind.UVVIS, dict(
            zip(("start_nm", "stop_nm", "step_nm"), (float(v) for v in wf.uvvis_nm))))]),
    ]


def objectives_from_phases(fractions: Mapping[str, float], residual: float, target_phase: str) -> dict[str, float]:
    """Objective values of the solid-state workflow from estimated phase weight fractions."""
    target = float(fractions.get(target_phase, 0.0))
    unreacted = float(sum(fractions.get(p, 0.0) for p in UNREACTED_PHASES))
    return {
        "target_fraction": target,
        "unreacted_fraction": unreacted,
        "impurity_fraction": max(0.0, 1.0 - target - unreacted),
        "fit_residual": float(residual),
    }
