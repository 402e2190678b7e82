"""What a policy sees of a campaign: :class:`CampaignState`.

The state holds the search space, the objectives, every completed experiment (with its objective
values and reward), every experiment still in flight (so that a policy does not propose the same
thing twice while waiting hours for a result) and every proposal a scientist rejected (never to be
proposed again), plus the remaining budget, the time and the outcome constraints. An
observation is *feasible* when it did not fail and every constraint holds on its measured values;
:meth:`CampaignState.best` counts only feasible ones.

Example:
    >>> from lab.search_space import SearchSpace, ContinuousParameter
    >>> space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    >>> state = CampaignState(space, (Objective("y"),), observations=(Observation({"x": 0.2}, {"y": 1.0}, 1.0),))
    >>> CampaignState.from_dict(state.to_dict()) == state
    True
    >>> state.best().params
    {'x': 0.2}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lab.search_space import SearchSpace

__all__ = ["CampaignState", "Objective", "Observation", "OutcomeConstraint", "PendingExperiment", "RejectedProposal"]


@dataclass(frozen=True)
class Objective:
    """A measured quantity to optimise, with its direction (``maximize`` or ``minimize``)."""

    name: str
    direction: str = "maximize"
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "direction": self.direction, "unit": self.unit}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objective:
        return cls(data["name"], data.get("direction", "maximize"), data.get("unit", ""))


@dataclass(frozen=True)
class OutcomeConstraint:
    """A bound on a measured quantity: feasible when ``low <= value <= high`` (``None``: unbounded).

    Attributes:
        objective: the measured quantity (one of an observation's ``objectives`` keys).
        low: the smallest feasible value, in the quantity's unit, or ``None``.
        high: the largest feasible value, in the quantity's unit, or ``None``.
    """

    objective: str
    low: float | None = None
    high: float | None = None

    def holds(self, objectives: Mapping[str, float]) -> bool:
        """Whether the bound holds on measured ``objectives`` (a missing value does not hold)."""
        value = objectives.get(self.objective)
        if value is None:
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "min": self.low, "max": self.high}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutcomeConstraint:
        """From :meth:`to_dict`'s form, which is also the spec's ``[[constraints]]`` form."""
        low, high = data.get("min"), data.get("max")
        return cls(str(data["objective"]), None if low is None else float(low), None if high is None else float(high))


@dataclass(frozen=True)
class Observation:
    """A completed experiment as a policy sees it.

    Attributes:
        params: the parameters it ran with.
        objectives: measured objective values (empty for a chemistry failure).
        reward: its reward under the state's reward version (``None`` if not yet computed).
        failed: True for a chemistry failure (a real, bad outcome).
        experiment_id: its id in the store, if stored.
    """

    params: Mapping[str, Any]
    objectives: Mapping[str, float] = field(default_factory=dict)
    reward: float | None = None
    failed: bool = False
    experiment_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "objectives": dict(self.objectives), "reward": self.reward,
                "failed": self.failed, "experiment_id": self.experiment_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        return cls(dict(data["params"]), dict(data.get("objectives", {})), data.get("reward"),
                   bool(data.get("failed", False)), data.get("experiment_id"))


@dataclass(frozen=True)
class PendingExperiment:
    """An experiment dispatched or proposed whose result has not arrived."""

    params: Mapping[str, Any]
    expected_completion: datetime | None = None
    experiment_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        done = self.expected_completion.isoformat() if self.expected_completion else None
        return {"params": dict(self.params), "expected_completion": done, "experiment_id": self.experiment_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingExperiment:
        done = data.get("expected_completion")
        return cls(dict(data["params"]), datetime.fromisoformat(done) if done else None, data.get("experiment_id"))


@dataclass(frozen=True)
class RejectedProposal:
    """A proposal a scientist rejected before it ran (``lab reject``): a point not to propose again.

    Attributes:
        params: the parameters proposed.
        reason: the scientist's reason.
        experiment_id: the (cancelled) experiment's id in the store, if stored.
    """

    params: Mapping[str, Any]
    reason: str = ""
    experiment_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "reason": self.reason, "experiment_id": self.experiment_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RejectedProposal:
        return cls(dict(data["params"]), str(data.get("reason", "")), data.get("experiment_id"))


@dataclass(frozen=True)
class CampaignState:
    """Everything a policy may use to propose the next experiments.

    Attributes:
        space: the search space.
        objectives: the objectives, the first being the primary one.
        observations: completed experiments, oldest first.
        pending: experiments in flight, whose results are awaited.
        budget_remaining: experiments the campaign may still start (``None``: unlimited).
        now: the campaign clock's time when the state was read.
        decision_index: how many decisions the campaign has made so far.
        seed: the campaign's seed (policies derive their randomness from it and the decision index).
        rejected: proposals a scientist rejected, oldest first (policies never propose them again).
        constraints: outcome constraints every result should satisfy (see :class:`OutcomeConstraint`).
    """

    space: SearchSpace
    objectives: tuple[Objective, ...]
    observations: tuple[Observation, ...] = ()
    pending: tuple[PendingExperiment, ...] = ()
    budget_remaining: int | None = None
    now: datetime | None = None
    decision_index: int = 0
    seed: int = 0
    rejected: tuple[RejectedProposal, ...] = ()
    constraints: tuple[OutcomeConstraint, ...] = ()

    def feasible(self, observation: Observation) -> bool:
        """Whether ``observation`` did not fail and satisfies every constraint."""
        return not observation.failed and all(c.holds(observation.objectives) for c in self.constraints)

    def best(self) -> Observation | None:
        """The feasible observation with the highest reward (``None`` when no feasible one is rewarded yet)."""
        scored = [o for o in self.observations if o.reward is not None and self.feasible(o)]
        return max(scored, key=lambda o: o.reward) if scored else None  # type: ignore[arg-type, return-value]

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space.to_dict(),
            "objectives": [o.to_dict() for o in self.objectives],
            "observations": [o.to_dict() for o in self.observations],
            "pending": [p.to_dict() for p in self.pending],
            "budget_remaining": self.budget_remaining,
            "now": self.now.isoformat() if self.now else None,
            "decision_index": self.decision_index,
            "seed": self.seed,
            "rejected": [r.to_dict() for r in self.rejected],
            "constraints": [c.to_dict() for c in self.constraints],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignState:
        return cls(
            SearchSpace.from_dict(data["space"]),
            tuple(Objective.from_dict(o) for o in data["objectives"]),
            tuple(Observation.from_dict(o) for o in data.get("observations", [])),
            tuple(PendingExperiment.from_dict(p) for p in data.get("pending", [])),
            data.get("budget_remaining"),
            datetime.fromisoformat(data["now"]) if data.get("now") else None,
            int(data.get("decision_index", 0)),
            int(data.get("seed", 0)),
            tuple(RejectedProposal.from_dict(r) for r in data.get("rejected", [])),
            tuple(OutcomeConstraint.from_dict(c) for c in data.get("constraints") or ()),
        )
