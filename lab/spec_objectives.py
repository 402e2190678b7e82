"""The ``[[objectives]]``, ``[[constraints]]`` and ``[reward]`` of a campaign spec, and their cross-checks.

An objective names a measured quantity and its direction; without one it takes the quantity's
own sense (:data:`lab.workflow.QUANTITY_SENSES`). A constraint bounds a measured quantity (any of
them, an objective or not) from below (``min``), above (``max``) or both::

    [[constraints]]
    objective = "impurity_fraction"   # a measured quantity
    max = 0.05                        # feasible when impurity_fraction <= 0.05 (same unit as the quantity)

An experiment is *feasible* when every constraint holds on its measured values; model-based
policies weight their acquisition by the probability of feasibility and count only feasible
experiments as the best so far (:class:`lab.state.OutcomeConstraint`). Reward weights are
importance (``>= 0``; see :mod:`lab.reward`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from lab.reward import RewardTerm, weight_problems
from lab.spec_parameters import _Strict
from lab.spec_problems import spec_problems
from lab.state import Objective, OutcomeConstraint
from lab.workflow import QUANTITY_SENSES

__all__ = ["SOLID_STATE_QUANTITIES", "ConstraintSpec", "ObjectiveSpec", "RewardSpec", "RewardTermSpec", "objective_problems",
           "reward_file_problems"]

#: Quantities the solid-state workflow's analysis can report as objectives.
SOLID_STATE_QUANTITIES = tuple(QUANTITY_SENSES)


class ObjectiveSpec(_Strict):
    """A measured quantity to optimise; ``direction`` defaults to the quantity's sense."""

    name: str
    direction: Literal["maximize", "minimize"] = "maximize"
    unit: str = ""

    @model_validator(mode="before")
    @classmethod
    def _sense(cls, data: Any) -> Any:
        if isinstance(data, dict) and "direction" not in data and isinstance(data.get("name"), str):
            return {**data, "direction": QUANTITY_SENSES.get(data["name"], "maximize")}
        return data

    def to_objective(self) -> Objective:
        return Objective(self.name, self.direction, self.unit)


class ConstraintSpec(_Strict):
    """A bound on a measured quantity: ``min <= value``, ``value <= max``, or both (``min < max``)."""

    objective: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max (finite numbers in the quantity's unit)")
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self

    def to_constraint(self) -> OutcomeConstraint:
        return OutcomeConstraint(self.objective, self.min, self.max)


class RewardTermSpec(_Strict):
    objective: str
    weight: float = 1.0


class RewardSpec(_Strict):
    version: str = "v1"
    terms: list[RewardTermSpec] = Field(default_factory=list)
    failure_reward: float = 0.0


def objective_problems(objectives: Sequence[ObjectiveSpec], reward: RewardSpec | None,
                       constraints: Sequence[tuple[int, ConstraintSpec]], workflow_kind: str = "solid_state") -> list[str]:
    """What is wrong across objectives, reward terms and constraints (each already valid on its own).

    Args:
        objectives: the objectives that validated.
        reward: the reward section, if it validated.
        constraints: ``(index in the spec, constraint)`` of each constraint that validated.
        workflow_kind: the workflow, for the message.
    """
    problems = []
    measured = list(SOLID_STATE_QUANTITIES)
    for i, o in enumerate(objectives):
        if o.name not in measured:
            problems.append(f"objectives[{i}].name: {o.name!r} is not measured by the {workflow_kind} workflow (it measures {measured})")
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        problems.append(f"objectives: names must be unique, got {names}")
    if reward is not None:
        known = sorted(set(names))
        for i, t in enumerate(reward.terms):
            if t.objective not in names:
                problems.append(f"reward.terms[{i}].objective: objective {t.objective!r} is not one of the objectives {known}")
        directions: Mapping[str, str] = {o.name: o.direction for o in objectives}
        problems += weight_problems([RewardTerm(t.objective, t.weight) for t in reward.terms], directions, "reward.terms")
    for i, c in constraints:
        if c.objective not in measured:
            problems.append(f"constraints[{i}].objective: {c.objective!r} is not measured by the {workflow_kind} workflow "
                            f"(it measures {measured})")
    return problems


def reward_file_problems(data: Mapping[str, Any]) -> tuple[RewardSpec | None, list[str]]:
    """A reward file's ``[reward]``-shaped table checked in one pass: its fields, then each valid term's
    objective (a measured quantity) and weight (importance, ``>= 0``), one line per problem.

    Returns:
        The validated section (``None`` when a field is wrong) and the problems.
    """
    try:
        spec: RewardSpec | None = RewardSpec.model_validate(data)
        problems: list[str] = []
    except ValidationError as exc:
        spec, problems = None, spec_problems(exc)
    raw = data.get("terms", [])
    terms: list[tuple[int, RewardTermSpec]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            terms.append((i, RewardTermSpec.model_validate(item)))
        except ValidationError:
            continue  # already listed by the whole-table check
    measured = list(SOLID_STATE_QUANTITIES)
    problems += [f"terms[{i}].objective: {t.objective!r} is not measured (measured: {measured})"
                 for i, t in terms if t.objective not in measured]
    if isinstance(raw, list) and not raw:
        problems.append("terms: give at least one {objective, weight}")
    problems += weight_problems([RewardTerm(t.objective, t.weight) for _, t in terms], {}, "terms", [i for i, _ in terms])
    return spec, problems
