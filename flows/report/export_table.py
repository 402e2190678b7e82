"""One campaign as a typed table, one row per experiment: what ``lab export`` writes (:mod:`flows.report.export`).

Columns, in order (:func:`load_table`):

* ``experiment_id``, ``sample_id``, ``campaign_id``, ``decision_index``, ``policy``,
  ``policy_version``, ``state``, ``reason`` (why it failed, was lost or cancelled; empty otherwise);
* the parameters, in the search space's order. A composition parameter becomes one column per
  element, holding the element's **amount** in the stored composition, read through pymatgen
  :class:`~pymatgen.core.Composition` (so a formula value ``"Ba0.5Sr0.5TiO3"`` gives Ba 0.5,
  Sr 0.5, Ti 1, O 3, and a cation-fraction value ``{"Ba": 0.45, "Ti": 0.55}`` with ``total = 1``
  gives the fractions themselves: the columns of a composition sum to its ``total``). An element a
  composition lacks is 0.0. The columns are named by the element symbol (``Ba``, ``Ti``) when the
  space has one composition parameter, else ``<parameter>_<element>`` (``cations_Ba``); other
  parameters keep their name (continuous: float, integer: int, categorical: string);
* ``analysis_version`` and every objective of the experiment's latest analysis
  (``target_fraction``, ``unreacted_fraction``, ``impurity_fraction``, ``fit_residual``: the
  campaign's objectives first), empty when it was never analysed;
* ``reward_<version>`` for each reward version of the campaign, oldest first (empty: no reward
  under that version);
* timestamps, aware UTC, empty when they never happened: ``decision_made_at`` and
  ``decision_approved_at`` (its batch's decision), ``<state>_at`` for every experiment state
  (``proposed_at``, ``dispatched_at``, ``running_at``, ``measured_at``, ``rewarded_at``,
  ``cancelled_at``, ``failed_at``, ``lost_at``), ``expected_completion_at`` and ``deadline_at``
  (as planned when it was proposed) and ``analysed_at`` (its latest analysis).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymatgen.core import Composition
from sqlalchemy.orm import Session

import db
from lab.experiment import ExperimentState
from lab.search_space import CategoricalParameter, CompositionParameter, IntegerParameter, SearchSpace

__all__ = ["Column", "ExportTable", "Kind", "Value", "composition_amounts", "load_table"]

#: The type of a column's values: ``int`` and ``float`` (float64), ``str``, ``timestamp`` (aware UTC).
Kind = Literal["int", "float", "str", "timestamp"]
Value = int | float | str | datetime | None


@dataclass(frozen=True)
class Column:
    """A column's name and the type of its values (``None`` is allowed in every column)."""

    name: str
    kind: Kind


@dataclass(frozen=True)
class ExportTable:
    """A campaign's experiments as rows, in creation order; each row maps every column's name to a value."""

    campaign_id: int
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Value], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def composition_amounts(value: Mapping[str, float] | str) -> dict[str, float]:
    """Element symbol -> amount of a stored composition value (a dict of amounts or a formula).

    Example:
        >>> composition_amounts("Ba0.5Sr0.5TiO3")
        {'Ba': 0.5, 'Sr': 0.5, 'Ti': 1.0, 'O': 3.0}
    """
    if isinstance(value, str):
        comp = Composition(value)
    else:
        comp = Composition({e: float(v) for e, v in value.items() if float(v) > 0})
    return {str(el): float(amount) for el, amount in comp.get_el_amt_dict().items()}


def _parameter_columns(space: SearchSpace, experiments: list[db.ExperimentInfo],
                       taken: set[str]) -> list[tuple[Column, str, str | None]]:
    """(column, parameter, element or ``None``) for every parameter column."""
    compositions = [p for p in space.parameters if isinstance(p, CompositionParameter)]
    out: list[tuple[Column, str, str | None]] = []
    for p in space.parameters:
        if isinstance(p, CompositionParameter):
            elements = list(p.elements)
            for e in experiments:
                value = e.params.get(p.name)
                extra = composition_amounts(value) if isinstance(value, (str, Mapping)) else {}
                elements += [el for el in extra if el not in elements]
            prefix = "" if len(compositions) == 1 and not taken & set(elements) else f"{p.name}_"
            out += [(Column(f"{prefix}{el}", "float"), p.name, el) for el in elements]
        else:
            kind: Kind = "str" if isinstance(p, CategoricalParameter) else "int" if isinstance(p, IntegerParameter) else "float"
            out.append((Column(p.name, kind), p.name, None))
    return out


def _parameter_value(params: Mapping[str, Any], name: str, element: str | None, kind: Kind) -> Value:
    value = params.get(name)
    if value is None:
        return None
    if element is not None:
        return composition_amounts(value).get(element, 0.0)
    return str(value) if kind == "str" else int(value) if kind == "int" else float(value)


_FIXED = (Column("experiment_id", "int"), Column("sample_id", "str"), Column("campaign_id", "int"),
          Column("decision_index", "int"), Column("policy", "str"), Column("policy_version", "str"),
          Column("state", "str"), Column("reason", "str"))
_STATES = tuple(s.value for s in ExperimentState)
_TIMES = ("decision_made", "decision_approved", *_STATES, "expected_completion", "deadline", "analysed")


def load_table(s: Session, campaign_id: int) -> ExportTable:
    """The campaign's experiments as an :class:`ExportTable` (see the module docstring for the columns).

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    info = db.get_campaign(s, campaign_id)
    experiments = db.list_experiments(s, campaign_id)
    decisions = {d.id: d for d in db.list_decisions(s, campaign_id)}
    analyses = db.latest_analyses(s, campaign_id)
    versions = [d.version for d in db.list_reward_definitions(s, campaign_id)]
    rewards = {v: db.rewards_for(s, campaign_id, v) for v in versions}
    declared = [str(o["name"]) for o in info.spec.get("objectives", [])]
    found = sorted({n for a in analyses.values() for n in a.objectives} - set(declared))
    objectives = [n for n in declared if any(n in a.objectives for a in analyses.values())] + found
    fixed_names = {c.name for c in _FIXED} | set(objectives) | {f"reward_{v}" for v in versions}
    params = _parameter_columns(SearchSpace.from_dict(info.spec["space"]), experiments, fixed_names)
    columns = (*_FIXED, *(c for c, _, _ in params), Column("analysis_version", "int"),
               *(Column(n, "float") for n in objectives), *(Column(f"reward_{v}", "float") for v in versions),
               *(Column(f"{t}_at", "timestamp") for t in _TIMES))
    rows = []
    for e in experiments:
        analysis = analyses.get(e.id)
        row: dict[str, Value] = {
            "experiment_id": e.id, "sample_id": e.sample_id, "campaign_id": e.campaign_id,
            "decision_index": e.decision_index, "policy": e.policy, "policy_version": e.policy_version,
            "state": e.state.value, "reason": e.reason,
        }
        row.update({c.name: _parameter_value(e.params, name, el, c.kind) for c, name, el in params})
        row["analysis_version"] = None if analysis is None else analysis.version
        row.update({n: None if analysis is None else analysis.objectives.get(n) for n in objectives})
        row.update({f"reward_{v}": rewards[v].get(e.id) for v in versions})
        decision = decisions.get(e.decision_id)
        row["decision_made_at"] = None if decision is None else decision.made_at
        row["decision_approved_at"] = None if decision is None else decision.approved_at
        row.update({f"{state}_at": e.timestamps.get(state) for state in _STATES})
        row["expected_completion_at"], row["deadline_at"] = e.expected_completion, e.deadline
        row["analysed_at"] = None if analysis is None else analysis.created_at
        rows.append(row)
    return ExportTable(campaign_id, columns, tuple(rows))
