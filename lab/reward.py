"""Reward definitions: versioned, declarative, never evaluated code.

A reward is a weighted sum of objective values with a fixed value for chemistry failures. Rewards
are keyed by (experiment, version) in the store, so changing the definition means a new
``version`` and a recomputation from raw measurements; old rewards are kept.

**Sign convention** (``convention = "sense"``, every definition made today): a weight is the
term's *importance* and must be ``>= 0``; the *direction* comes from the objective's sense. A
term adds ``weight * value`` for a maximised objective and ``-weight * value`` for a minimised one,
so larger rewards are always better. The sense of a term's objective is its ``direction`` among
the campaign's objectives, else the measured quantity's own sense
(:data:`lab.workflow.QUANTITY_SENSES`: ``target_fraction`` maximised; ``impurity_fraction``,
``unreacted_fraction`` and ``fit_residual`` minimised). "Reward BaTiO3, penalise half as much
impurity" is therefore ``target_fraction`` weight 1.0 and ``impurity_fraction`` weight 0.5; a
negative weight is refused (:func:`weight_problems`), since on a minimised objective it would
reward the very thing minimised.

Definitions stored before the convention was explicit carry no ``convention`` field and load as
``convention = "signed"``: the same arithmetic (``weight * sign * value``, the sign from the
campaign's objectives), weights of either sign accepted as stored, and a term on a quantity that
is not one of the campaign's objectives counted as maximised, as it was then. Their rewards do not
change.

Example:
    >>> r = RewardDefinition("v1", (RewardTerm("target_fraction", 1.0), RewardTerm("impurity_fraction", 0.5)))
    >>> r.compute({"target_fraction": 0.8, "impurity_fraction": 0.1}, {"target_fraction": "maximize"})
    0.75
    >>> weight_problems([RewardTerm("impurity_fraction", -0.5)], {})[0]
    'terms[0].weight: weight -0.5 on impurity_fraction (minimised) would reward impurity_fraction; weights are importance: write 0.5, the sense comes from the objective'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.workflow import QUANTITY_SENSES

__all__ = ["CONVENTIONS", "RewardDefinition", "RewardTerm", "weight_problems"]

#: ``"sense"``: weights are importance (>= 0), the objective's sense gives the sign (definitions
#: made today); ``"signed"``: definitions stored before, read as they were computed.
CONVENTIONS = ("sense", "signed")


@dataclass(frozen=True)
class RewardTerm:
    """``weight`` (importance, >= 0) times one objective's value, signed by the objective's sense."""

    objective: str
    weight: float = 1.0


def _sense(objective: str, directions: Mapping[str, str]) -> str:
    return directions.get(objective) or QUANTITY_SENSES.get(objective, "maximize")


def weight_problems(terms: Sequence[RewardTerm], directions: Mapping[str, str], where: str = "terms",
                    indices: Sequence[int] | None = None) -> list[str]:
    """One line per term whose weight is negative (weights are importance; see the module docstring).

    Args:
        terms: the reward's terms.
        directions: objective name -> ``"maximize"`` / ``"minimize"`` (the campaign's objectives;
            others take :data:`lab.workflow.QUANTITY_SENSES`).
        where: the field the terms are in, for the message (``"reward.terms"`` in a spec).
        indices: each term's position in that field (default ``0, 1, ...``).
    """
    out = []
    for i, t in zip(indices if indices is not None else range(len(terms)), terms):
        if t.weight < 0:
            sense = _sense(t.objective, directions)
            effect, word = ("reward", "minimised") if sense == "minimize" else ("penalise", "maximised")
            out.append(f"{where}[{i}].weight: weight {t.weight:g} on {t.objective} ({word}) would {effect} {t.objective}; "
                       f"weights are importance: write {-t.weight:g}, the sense comes from the objective")
    return out


@dataclass(frozen=True)
class RewardDefinition:
    """A versioned reward.

    Attributes:
        version: a label unique within the campaign, e.g. ``"v1"``.
        terms: the weighted objectives.
        failure_reward: the reward of a chemistry failure (no usable measurement).
        convention: ``"sense"`` or ``"signed"`` (see the module docstring).

    Raises:
        ValueError: an unknown convention, or a negative weight under ``"sense"``.
    """

    version: str
    terms: tuple[RewardTerm, ...]
    failure_reward: float = 0.0
    convention: str = "sense"

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention: expected one of {list(CONVENTIONS)}, got {self.convention!r}")
        if self.convention == "sense":
            problems = weight_problems(self.terms, {})
            if problems:
                raise ValueError(problems[0])

    def compute(self, objectives: Mapping[str, float], directions: Mapping[str, str]) -> float:
        """The reward of one experiment's objective values.

        Args:
            objectives: measured values by objective name.
            directions: the campaign's objectives' directions (``"maximize"`` / ``"minimize"``).

        Raises:
            KeyError: an objective the definition needs is missing.
        """
        total = 0.0
        for term in self.terms:
            sense = _sense(term.objective, directions) if self.convention == "sense" else directions.get(term.objective)
            sign = -1.0 if sense == "minimize" else 1.0
            total += term.weight * sign * float(objectives[term.objective])
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "terms": [{"objective": t.objective, "weight": t.weight} for t in self.terms],
                "failure_reward": self.failure_reward, "convention": self.convention}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardDefinition:
        """A definition from :meth:`to_dict`'s form; without ``convention`` (stored before it existed), ``"signed"``."""
        terms = tuple(RewardTerm(t["objective"], float(t.get("weight", 1.0))) for t in data["terms"])
        return cls(str(data["version"]), terms, float(data.get("failure_reward", 0.0)), str(data.get("convention", "signed")))
