"""Campaign specs: what a scientist writes (TOML), validated before anything is stored.

A spec names the campaign, its search space, objectives, outcome constraints, budget, batch size,
policy, reward definition, workflow (how parameters become instrument commands) and instruments.
See ``lab/examples/batio3.toml`` for a complete one and ``lab/examples/batio3_pareto.toml`` for two
objectives under a constraint. The sections live in :mod:`lab.spec_parameters`,
:mod:`lab.spec_objectives` (objectives, ``[[constraints]]``, ``[reward]``: weights are importance,
the objective's sense gives the sign) and :mod:`lab.spec_workflow` (``[workflow]``,
``[instruments]``; what a spec leaves out takes :data:`lab.workflow.WORKFLOW_DEFAULTS`, so a spec
without an atmosphere parameter anneals in air). :func:`load_spec` refuses a bad spec with
:class:`~lab.errors.SpecError`, whose message lists every problem, structural and cross-field
together, each on its own line naming its field::

    parameters[0].elements: unknown element 'Xx' (expected a symbol such as 'Ba' or 'Ti')
    budget.experiments: Input should be greater than 0
    reward.terms[0].objective: objective 'yield' is not one of the objectives ['target_fraction']

The file is read within bounds (1 MB, nesting 32) and no value may be NaN, infinite or an integer
beyond 64 bits (:mod:`lab.toml_input`); ``seed`` lies in 0..2**63-1, what the store's BigInteger
column holds.

Example:
    >>> spec = load_spec(example_path("batio3"))
    >>> spec.search_space().names
    ('cations', 'temperature_c', 'dwell_h', 'atmosphere')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from lab.errors import SpecError
from lab.reward import RewardDefinition
from lab.search_space import SearchSpace
from lab.spec_objectives import (
    SOLID_STATE_QUANTITIES,
    ConstraintSpec,
    ObjectiveSpec,
    RewardSpec,
    RewardTermSpec,
    objective_problems,
)
from lab.spec_parameters import (
    AnyParameterSpec,
    CategoricalSpec,
    CompositionSpec,
    ContinuousSpec,
    IntegerSpec,
    _Strict,
    to_parameter,
)
from lab.spec_problems import spec_problems
from lab.spec_workflow import INSTRUMENT_ROLES, InstrumentsSpec, WorkflowSpec, resolve_workflow_roles, workflow_problems
from lab.state import Objective, OutcomeConstraint
from lab.toml_input import INT64_MAX, tree_problems
from lab.toml_input import parse_toml as _parse_toml
from lab.toml_input import read_toml as _read_toml

__all__ = ["INSTRUMENT_ROLES", "SOLID_STATE_QUANTITIES", "CampaignSpec", "CategoricalSpec", "CompositionSpec",
           "ConstraintSpec", "ContinuousSpec", "InstrumentsSpec", "IntegerSpec", "ObjectiveSpec", "RewardSpec",
           "RewardTermSpec", "WorkflowSpec", "example_path", "load_spec", "parse_spec", "read_toml", "spec_problems",
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
_PARAMETER = TypeAdapter(ParameterSpec)


class BudgetSpec(_Strict):
    """At least one of ``experiments`` (a count) and ``hours`` (campaign clock time)."""

    experiments: int | None = Field(default=None, gt=0)
    hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some(self) -> BudgetSpec:
        if self.experiments is None and self.hours is None:
            raise ValueError("give experiments (a positive count) and/or hours (positive)")
        return self


class PolicySpec(_Strict):
    name: str = "qlognei"
    options: dict[str, Any] = Field(default_factory=dict)


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
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    budget: BudgetSpec
    reward: RewardSpec = Field(default_factory=RewardSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    workflow: WorkflowSpec = Field(default_factory=WorkflowSpec)
    instruments: InstrumentsSpec = Field(default_factory=InstrumentsSpec)

    @model_validator(mode="before")
    @classmethod
    def _roles(cls, data: Any) -> Any:
        return resolve_workflow_roles(data)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        problems = _cross_problems(_Parts([p.name for p in self.parameters], {p.name: p for p in self.parameters},
                                          list(self.objectives), self.reward, list(enumerate(self.constraints)),
                                          self.workflow, self.instruments, self.policy))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def search_space(self) -> SearchSpace:
        return SearchSpace(tuple(to_parameter(p) for p in self.parameters))

    def objective_list(self) -> tuple[Objective, ...]:
        return tuple(o.to_objective() for o in self.objectives)

    def constraint_list(self) -> tuple[OutcomeConstraint, ...]:
        return tuple(c.to_constraint() for c in self.constraints)

    def reward_definition(self) -> RewardDefinition:
        """The reward (weights are importance, see :mod:`lab.reward`); with no terms, the primary objective with weight 1."""
        data = self.reward.model_dump()
        if not data["terms"]:
            data["terms"] = [{"objective": self.objectives[0].name, "weight": 1.0}]
        return RewardDefinition.from_dict({**data, "convention": "sense"})

    def to_store_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data, plus the encoded search space under ``"space"``."""
        return {**self.model_dump(mode="json"), "space": self.search_space().to_dict()}

    @classmethod
    def from_store_dict(cls, data: dict[str, Any]) -> CampaignSpec:
        return cls.model_validate({k: v for k, v in data.items() if k != "space"})


@dataclass(frozen=True)
class _Parts:
    """The sections of a spec that validated on their own (``None``: that section did not)."""

    names: list[str]
    parameters: dict[str, AnyParameterSpec]
    objectives: list[ObjectiveSpec]
    reward: RewardSpec | None
    constraints: list[tuple[int, ConstraintSpec]]
    workflow: WorkflowSpec | None
    instruments: InstrumentsSpec | None
    policy: PolicySpec | None = None


def _policy_problems(policy: PolicySpec, objectives: list[ObjectiveSpec]) -> list[str]:
    """What the multi-objective policy needs of the objectives (one line each)."""
    if policy.name.strip().lower() != "qlognehvi":
        return []
    names = [o.name for o in objectives]
    if len(names) < 2:
        return [f"policy.name: qlognehvi trades off several objectives; the spec has {names}: add an objective or "
                "choose qlognei"]
    ref = policy.options.get("ref_point")
    if isinstance(ref, list) and len(ref) != len(names):
        return [f"policy.options.ref_point: {len(ref)} values for the {len(names)} objectives {names} (one each, in order)"]
    return []


def _cross_problems(parts: _Parts) -> list[str]:
    """Every problem between sections, one line each (see :mod:`lab.spec_objectives`, :mod:`lab.spec_workflow`)."""
    problems = []
    if len(set(parts.names)) != len(parts.names):
        problems.append(f"parameters: names must be unique, got {parts.names}")
    kind = parts.workflow.kind if parts.workflow is not None else "solid_state"
    problems += objective_problems(parts.objectives, parts.reward, parts.constraints, kind)
    if parts.workflow is not None:
        problems += workflow_problems(parts.workflow, parts.names, parts.parameters, parts.instruments)
    if parts.policy is not None:
        problems += _policy_problems(parts.policy, parts.objectives)
    return problems


def _valid(model: Any, raw: Any) -> Any:
    """``model`` (a pydantic model or a TypeAdapter) validated from ``raw``, or ``None``."""
    try:
        return model.validate_python(raw) if isinstance(model, TypeAdapter) else model.model_validate(raw)
    except ValidationError:
        return None


def _items(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _parts_of(data: dict[str, Any]) -> _Parts:
    """Each section of raw spec data validated on its own, so that cross-checks run beside structural errors."""
    data = resolve_workflow_roles(data)
    raw_params = _items(data, "parameters")
    names = [str(p["name"]) for p in raw_params if isinstance(p, dict) and isinstance(p.get("name"), str)]
    params = [p for p in (_valid(_PARAMETER, raw) for raw in raw_params) if p is not None]
    objectives = [o for o in (_valid(ObjectiveSpec, raw) for raw in _items(data, "objectives")) if o is not None]
    constraints = [(i, c) for i, c in enumerate(_valid(ConstraintSpec, raw) for raw in _items(data, "constraints")) if c is not None]
    reward = _valid(RewardSpec, data.get("reward", {}))
    return _Parts(names, {p.name: p for p in params}, objectives, reward, constraints,
                  _valid(WorkflowSpec, data.get("workflow", {})), _valid(InstrumentsSpec, data.get("instruments", {})),
                  _valid(PolicySpec, data.get("policy", {})))


def validate_spec(data: dict[str, Any], source: str = "<spec>") -> CampaignSpec:
    """Validate parsed TOML as a spec: every value checked first (:func:`lab.toml_input.tree_problems`).

    All problems come in one :class:`SpecError`, in one pass: values no store can hold (NaN,
    infinities, integers beyond 64 bits, deep nesting), then what the fields refuse, each field
    named once, then what is inconsistent between the sections that are valid on their own (a
    reward term naming no objective, a workflow role naming no parameter, ...), even when other
    sections are malformed.

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
        problems += [p for p in spec_problems(exc, fields_only=True) if p.split(": ", 1)[0] not in named]
        problems += [p for p in _cross_problems(_parts_of(data)) if p not in problems]
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
