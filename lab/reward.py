"""Reward definitions: versioned, declarative, never evaluated code.

A reward is a weighted sum of objective values, each signed by its direction (maximise counts
``+value``, minimise counts ``-value``), with a fixed value for chemistry failures. Rewards are keyed
by (experiment, version) in the store, so changing the definition means a new ``version`` and a
recomputation from raw measurements; old rewards are kept.

Example:
    >>> r = RewardDefinition("v1", (RewardTerm("target_fraction", 1.0),))
    >>> r.compute({"target_fraction": 0.8}, {"target_fraction": "maximize"})
    0.8
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RewardDefinition", "RewardTerm"]


@dataclass(frozen=True)
class RewardTerm:
    """``weight`` times one objective's value (sign from the objective's direction)."""

    objective: str
    weight: float = 1.0


@dataclass(frozen=True)
class RewardDefinition:
    """A versioned reward.

    Attributes:
        version: a label unique within the campaign, e.g. ``"v1"``.
        terms: the weighted objectives.
        failure_reward: the reward of a chemistry failure (no usable measurement).
    """

    version: str
    terms: tuple[RewardTerm, ...]
    failure_reward: float = 0.0

    def compute(self, objectives: Mapping[str, float], directions: Mapping[str, str]) -> float:
        """The reward of one experiment's objective values.

        Raises:
            KeyError: an objective the definition needs is missing.
        """
        total = 0.0
        for term in self.terms:
            sign = -1.0 if directions.get(term.objective) == "minimize" else 1.0
            total += term.weight * sign * float(objectives[term.objective])
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "terms": [{"objective": t.objective, "weight": t.weight} for t in self.terms],
                "failure_reward": self.failure_reward}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardDefinition:
        terms = tuple(RewardTerm(t["objective"], float(t.get("weight", 1.0))) for t in data["terms"])
        return cls(str(data["version"]), terms, float(data.get("failure_reward", 0.0)))
