"""The ``[workflow]`` and ``[instruments]`` of a campaign spec, and their checks against the parameters.

``[workflow]`` says which parameter plays each role of the solid-state workflow (``composition``,
``temperature``, ``dwell``, ``atmosphere``) and the constants it runs with; whatever it leaves out
takes :data:`lab.workflow.WORKFLOW_DEFAULTS`. With no ``atmosphere`` role given and no parameter
named ``atmosphere``, no parameter chooses the gas and every anneal runs in
``default_atmosphere`` (``"air"`` unless the spec says otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator
from pymatgen.core import Composition

from lab.instrument_kind import InstrumentKind
from lab.spec_parameters import AnyParameterSpec, CompositionSpec, _Strict
from lab.workflow import WORKFLOW_DEFAULTS

__all__ = ["INSTRUMENT_ROLES", "InstrumentsSpec", "WorkflowSpec", "resolve_workflow_roles", "workflow_problems"]

_D = WORKFLOW_DEFAULTS


class WorkflowSpec(_Strict):
    """How parameters become instrument steps (see :mod:`lab.workflow`).

    ``kind = "solid_state"``: dose precursors, anneal, XRD, phase analysis. Defaults and units:
    :data:`lab.workflow.WORKFLOW_DEFAULTS`.
    """

    kind: Literal["solid_state"] = "solid_state"
    composition: str = "cations"
    temperature: str = "temperature_c"
    dwell: str = "dwell_h"
    atmosphere: str | None = "atmosphere"
    precursors: dict[str, str] = Field(default_factory=lambda: dict(_D["precursors"]))
    target_phase: str = _D["target_phase"]
    batch_mg: float = Field(default=_D["batch_mg"], gt=0)
    ramp_c_per_min: float = Field(default=_D["ramp_c_per_min"], gt=0)
    default_atmosphere: str = _D["atmosphere"]
    two_theta: tuple[float, float, float] = _D["two_theta"]
    uvvis_nm: tuple[float, float, float] | None = None
    max_fit_residual: float = Field(default=_D["max_fit_residual"], gt=0)

    @field_validator("precursors")
    @classmethod
    def _formulas(cls, v: dict[str, str]) -> dict[str, str]:
        for element, formula in v.items():
            try:
                comp = Composition(formula)
            except Exception:  # pymatgen raises several types for bad formulas
                raise ValueError(f"precursor {formula!r} for {element} is not a chemical formula") from None
            if element not in {str(e) for e in comp.elements}:
                raise ValueError(f"precursor {formula} does not contain {element}")
        return v


#: The field of ``[instruments]`` that names the instruments of each kind.
INSTRUMENT_ROLES: dict[InstrumentKind, str] = {InstrumentKind.DOSING: "dosing", InstrumentKind.FURNACE: "furnaces",
                                               InstrumentKind.XRD: "diffractometer", InstrumentKind.UVVIS: "spectrometer"}


class InstrumentsSpec(_Strict):
    """Names of the instruments the campaign uses, by role (see :data:`INSTRUMENT_ROLES`)."""

    dosing: list[str] = Field(default_factory=lambda: ["doser"], min_length=1)
    furnaces: list[str] = Field(default_factory=lambda: [f"furnace-{i}" for i in range(1, 5)], min_length=1)
    diffractometer: list[str] = Field(default_factory=lambda: ["xrd"], min_length=1)
    spectrometer: list[str] = Field(default_factory=list)

    def by_kind(self) -> dict[InstrumentKind, list[str]]:
        """The instrument names of each kind the workflow's steps need."""
        return {kind: list(getattr(self, role)) for kind, role in INSTRUMENT_ROLES.items()}


#: The kinds of parameter each workflow role takes, and what its values mean.
_ROLE_KINDS = (("temperature", ("continuous", "integer"), "the anneal temperature in °C"),
               ("dwell", ("continuous", "integer"), "the dwell time in hours"),
               ("atmosphere", ("categorical",), "names of furnace gases"))


def resolve_workflow_roles(data: Any) -> Any:
    """Raw spec data with ``workflow.atmosphere = None`` when the spec names no atmosphere role and no
    parameter is called ``atmosphere`` (the gas is then ``default_atmosphere``); other data unchanged."""
    if not isinstance(data, dict):
        return data
    workflow = data.get("workflow", {})
    params = data.get("parameters")
    if not isinstance(workflow, dict) or "atmosphere" in workflow or not isinstance(params, list):
        return data
    if any(isinstance(p, dict) and p.get("name") == "atmosphere" for p in params):
        return data
    return {**data, "workflow": {**workflow, "atmosphere": None}}


def workflow_problems(wf: WorkflowSpec, names: Sequence[str], valid: Mapping[str, AnyParameterSpec],
                      instruments: InstrumentsSpec | None) -> list[str]:
    """What is wrong between the workflow, the parameters and the instruments, one line each.

    Args:
        wf: the validated workflow.
        names: every parameter name the spec gives (valid or not).
        valid: the parameters that validated, by name (kind checks need them).
        instruments: the instruments, if they validated.
    """
    problems = []
    listed = list(names)
    for role in ("composition", "temperature", "dwell", "atmosphere"):
        name = getattr(wf, role)
        if name is not None and name not in listed:
            problems.append(f"workflow.{role}: parameter {name!r} is not among the parameters {listed}")
    comp = valid.get(wf.composition)
    if comp is not None:
        if not isinstance(comp, CompositionSpec):
            problems.append(f"workflow.composition: parameter {wf.composition!r} must be of type composition")
        else:
            missing = set(comp.elements) - set(wf.precursors)
            if missing:
                problems.append(f"workflow.precursors: no precursor for {sorted(missing)}")
    for role, kinds, what in _ROLE_KINDS:
        name = getattr(wf, role)
        if name is not None and name in valid and valid[name].type not in kinds:
            problems.append(f"workflow.{role}: parameter {name!r} is {valid[name].type}; expected a "
                            f"{' or '.join(kinds)} parameter ({what})")
    if wf.uvvis_nm is not None:
        start, stop, step = wf.uvvis_nm
        if not 0 < start < stop or step <= 0:
            problems.append(f"workflow.uvvis_nm: expected [start, stop, step] in nm with 0 < start < stop and "
                            f"step > 0, got {list(wf.uvvis_nm)}")
        if instruments is not None and not instruments.spectrometer:
            problems.append("instruments.spectrometer: the workflow records UV-Vis spectra (workflow.uvvis_nm), "
                            "so name at least one spectrometer")
    return problems
