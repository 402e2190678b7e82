"""Campaign specs: what a scientist writes (TOML), validated before anything is stored.

A spec names the campaign, its search space, objectives, budget, batch size, policy, reward
definition, workflow (how parameters become instrument commands) and instruments. See
``lab/examples/batio3.toml`` for a complete one. :func:`load_spec` refuses a bad spec with
:class:`~lab.errors.SpecError`, whose message lists every problem, each naming its field::

    parameters[0].elements: unknown element 'Xx' (expected a symbol such as 'Ba' or 'Ti')
    budget.experiments: Input should be greater than 0

The file is read within bounds (1 MB, nesting 32) and no value may be NaN, infinite or an integer
beyond 64 bits (:mod:`lab.toml_input`); ``seed`` lies in 0..2**63-1, what the store's BigInteger
column holds.

Example:
    >>> spec = load_spec(example_path("batio3"))
    >>> spec.search_space().names
    ('cations', 'temperature_c', 'dwell_h', 'atmosphere')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pymatgen.core import Composition

from lab.errors import SpecError
from lab.instrument_kind import InstrumentKind
from lab.reward import RewardDefinition
from lab.search_space import (
    SearchSpace,
)
from lab.spec_parameters import (
    CategoricalSpec,
    CompositionSpec,
    ContinuousSpec,
    IntegerSpec,
    _Strict,
    to_parameter,
)
from lab.spec_problems import spec_problems
from lab.state import Objective
from lab.toml_input import INT64_MAX, tree_problems
from lab.toml_input import parse_toml as _parse_toml
from lab.toml_input import read_toml as _read_toml

__all__ = ["INSTRUMENT_ROLES", "CampaignSpec", "CategoricalSpec", "CompositionSpec", "ContinuousSpec", "IntegerSpec", "RewardSpec", "example_path", "load_spec", "parse_spec", "read_toml", "spec_problems",
           "validate_spec"]

EXAMPLES_DIR = Path(__file__).parent / "examples"


def example_path(name: str) -> Path:
    """Path of a shipped example spec, e.g. ``example_path("batio3")``."""
    path = EXAMPLES_DIR / f"{name}.toml"
    if not path.exists():
        known = sorted(p.stem for p in EXAMPLES_DIR.glob("*.toml"))
        raise FileNotFoundError(f"no example spec {name!r}; shipped examples: {known}")
    return path


ParameterSpec = Annotated[Union[ContinuousSpec, IntegerSpec, CategoricalSpec, CompositionSpec], Field(discriminator="type")]


class ObjectiveSpec(_Strict):
    name: str
    direction: Literal["maximize", "minimize"] = "maximize"
    unit: str = ""


class BudgetSpec(_Strict):
    """At least one of ``experiments`` (a count) and ``hours`` (campaign clock time)."""

    experiments: int | None = Field(default=None, gt=0)
    hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some(self) -> BudgetSpec:
        if self.experiments is None and self.hours is None:
            raise ValueError("give experiments (a positive count) and/or hours (positive)")
        return self


class RewardTermSpec(_Strict):
    objective: str
    weight: float = 1.0


class RewardSpec(_Strict):
    version: str = "v1"
    terms: list[RewardTermSpec] = Field(default_factory=list)
    failure_reward: float = 0.0


class PolicySpec(_Strict):
    name: str = "qlognei"
    options: dict[str, Any] = Field(default_factory=dict)


class WorkflowSpec(_Strict):
    """How parameters become instrument steps (see :mod:`lab.workflow`).

    ``kind = "solid_state"``: dose precursors, anneal, XRD, phase analysis.
    """

    kind: Literal["solid_state"] = "solid_state"
    composition: str = "cations"
    temperature: str = "temperature_c"
    dwell: str = "dwell_h"
    atmosphere: str | None = "atmosphere"
    precursors: dict[str, str] = Field(default_factory=lambda: {"Ba": "BaCO3", "Ti": "TiO2"})
    target_phase: str = "BaTiO3"
    batch_mg: float = Field(default=1000.0, gt=0)
    ramp_c_per_min: float = Field(default=5.0, gt=0)
    default_atmosphere: str = "air"
    two_theta: tuple[float, float, float] = (10.0, 80.0, 0.02)
    uvvis_nm: tuple[float, float, float] | None = None
    max_fit_residual: float = Field(default=0.5, gt=0)

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

#: Quantities the solid-state workflow's analysis can report as objectives.
SOLID_STATE_QUANTITIES = ("target_fraction", "impurity_fraction", "unreacted_fraction", "fit_residual")


class CampaignSpec(_Strict):
    """A whole campaign. Unknown keys are refused, so typos do not pass silently."""

    name: str = Field(min_length=1)
    description: str = ""
    #: 0..2**63-1: the store keeps it in a BigInteger (signed 64-bit) column.
    seed: int = Field(default=0, ge=0, le=INT64_MAX)
    batch_size: int = Field(default=4, gt=0)
    approval_required: bool = False
    parameters: list[ParameterSpec] = Field(min_length=1)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    budget: BudgetSpec
    reward: RewardSpec = Field(default_factory=RewardSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    workflow: WorkflowSpec = Field(default_factory=WorkflowSpec)
    instruments: InstrumentsSpec = Field(default_factory=InstrumentsSpec)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"parameters: names must be unique, got {names}")
        objective_names = {o.name for o in self.objectives}
        unknown = objective_names - set(SOLID_STATE_QUANTITIES)
        if unknown:
            raise ValueError(f"objectives: {sorted(unknown)} not measured by the {self.workflow.kind} workflow "
                             f"(it measures {list(SOLID_STATE_QUANTITIES)})")
        for term in self.reward.terms:
            if term.objective not in objective_names:
                raise ValueError(f"reward.terms: objective {term.objective!r} is not one of the objectives {sorted(objective_names)}")
        self._check_workflow(names)
        return self

    def _check_workflow(self, names: list[str]) -> None:
        wf = self.workflow
        by_name = {p.name: p for p in self.parameters}
        for role in ("composition", "temperature", "dwell"):
            if getattr(wf, role) not in by_name:
                raise ValueError(f"workflow.{role}: parameter {getattr(wf, role)!r} is not among the parameters {names}")
        comp = by_name[wf.composition]
        if not isinstance(comp, CompositionSpec):
            raise ValueError(f"workflow.composition: parameter {wf.composition!r} must be of type composition")
        missing = set(comp.elements) - set(wf.precursors)
        if missing:
            raise ValueError(f"workflow.precursors: no precursor for {sorted(missing)}")
        if wf.atmosphere is not None and wf.atmosphere not in by_name:
            raise ValueError(f"workflow.atmosphere: parameter {wf.atmosphere!r} is not among the parameters {names}")
        for role, kinds, what in _ROLE_KINDS:
            name = getattr(wf, role)
            if name is not None and by_name[name].type not in kinds:
                raise ValueError(f"workflow.{role}: parameter {name!r} is {by_name[name].type}; expected a "
                                 f"{' or '.join(kinds)} parameter ({what})")
        if wf.uvvis_nm is not None:
            start, stop, step = wf.uvvis_nm
            if not 0 < start < stop or step <= 0:
                raise ValueError(f"workflow.uvvis_nm: expected [start, stop, step] in nm with 0 < start < stop and "
                                 f"step > 0, got {list(wf.uvvis_nm)}")
            if not self.instruments.spectrometer:
                raise ValueError("instruments.spectrometer: the workflow records UV-Vis spectra (workflow.uvvis_nm), "
                                 "so name at least one spectrometer")

    def search_space(self) -> SearchSpace:
        return SearchSpace(tuple(to_parameter(p) for p in self.parameters))

    def objective_list(self) -> tuple[Objective, ...]:
        return tuple(Objective(o.name, o.direction, o.unit) for o in self.objectives)

    def reward_definition(self) -> RewardDefinition:
        """The reward; with no terms, the primary objective with weight 1."""
        data = self.reward.model_dump()
        if not data["terms"]:
            data["terms"] = [{"objective": self.objectives[0].name, "weight": 1.0}]
        return RewardDefinition.from_dict(data)

    def to_store_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data, plus the encoded search space under ``"space"``."""
        return {**self.model_dump(mode="json"), "space": self.search_space().to_dict()}

    @classmethod
    def from_store_dict(cls, data: dict[str, Any]) -> CampaignSpec:
        return cls.model_validate({k: v for k, v in data.items() if k != "space"})


def validate_spec(data: dict[str, Any], source: str = "<spec>") -> CampaignSpec:
    """Validate parsed TOML as a spec: every value checked first (:func:`lab.toml_input.tree_problems`).

    All problems come in one :class:`SpecError`: values no store can hold (NaN, infinities,
    integers beyond 64 bits, deep nesting), then what the fields refuse, each field named once.

    Raises:
        SpecError: the spec is invalid; lists every problem.
    """
    problems = [f"seed: expected an integer between 0 and {INT64_MAX} (what the store holds), got {data['seed']}"
                if p.startswith("seed: expected an integer") else p for p in tree_problems(data)]
    if any("nested deeper" in p for p in problems):
        raise SpecError(source, problems)  # not handed to the validators: they recurse
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        named = {p.split(": ", 1)[0] for p in problems}
        problems += [p for p in spec_problems(exc) if p.split(": ", 1)[0] not in named]
    if problems:
        raise SpecError(source, problems)
    return spec


def parse_spec(text: str, source: str = "<spec>") -> CampaignSpec:
    """Parse and validate a spec from TOML text (see :func:`validate_spec`).

    Raises:
        SpecError: the TOML does not parse or the spec is invalid; lists every problem.
    """
    return validate_spec(_parse_toml(text, source, check=False), source)


def read_toml(path: str | Path, what: str = "campaign spec") -> dict[str, Any]:
    """The TOML table in a file (specs, lab files, reward files); see :func:`lab.toml_input.read_toml`.

    Raises:
        SpecError: the file is missing, unreadable, too large, binary or not valid TOML, or holds
            values no store can keep (NaN, infinities, integers beyond 64 bits, deep nesting).
    """
    return _read_toml(path, what)


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and validate a spec file (see :func:`validate_spec`)."""
    return validate_spec(_read_toml(path, check=False), str(path))
