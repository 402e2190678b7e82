"""The Pareto set of a campaign with several objectives, for ``lab status ID``.

Of the experiments measured (rewarded or measured, latest analysis) with a value for every
objective, and feasible under the spec's ``[[constraints]]``, those no other one dominates
(:func:`lab.pareto.pareto_mask`, each objective in its own direction), best primary objective first.
A campaign with one objective has no Pareto table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from sqlalchemy.orm import Session

import db
from lab.experiment import ExperimentState
from lab.pareto import pareto_mask
from lab.state import Objective, OutcomeConstraint

__all__ = ["feasible_ids", "pareto_rows", "pareto_table"]

_MEASURED = (ExperimentState.MEASURED, ExperimentState.REWARDED)


def feasible_ids(s: Session, campaign_id: int, spec: Mapping[str, Any]) -> set[int] | None:
    """Ids of the analysed experiments satisfying every ``[[constraints]]`` of ``spec`` (``None``: it has none)."""
    constraints = [OutcomeConstraint.from_dict(c) for c in spec.get("constraints") or ()]
    if not constraints:
        return None
    return {eid for eid, values in db.objectives_for(s, campaign_id).items() if all(c.holds(values) for c in constraints)}


def pareto_rows(s: Session, campaign_id: int, spec: Mapping[str, Any],
                experiments: Sequence[db.ExperimentInfo]) -> list[dict[str, Any]]:
    """The non-dominated feasible experiments: ``{"sample", "params", "objectives"}`` each (``[]`` for one objective).

    Args:
        s: a store session.
        campaign_id: the campaign.
        spec: the campaign's stored spec (its ``objectives`` and ``constraints``).
        experiments: the campaign's experiments.
    """
    objectives = [Objective.from_dict(o) for o in spec.get("objectives") or ()]
    if len(objectives) < 2:
        return []
    constraints = [OutcomeConstraint.from_dict(c) for c in spec.get("constraints") or ()]
    values = db.objectives_for(s, campaign_id)
    names = [o.name for o in objectives]
    kept = [e for e in experiments
            if ExperimentState(e.state) in _MEASURED and e.id in values and all(n in values[e.id] for n in names)
            and all(c.holds(values[e.id]) for c in constraints)]
    rows: list[dict[str, Any]] = [{"sample": e.sample_id, "params": dict(e.params),
                                   "objectives": {n: float(values[e.id][n]) for n in names}} for e in kept]
    mask = pareto_mask([[r["objectives"][n] for n in names] for r in rows], [o.direction for o in objectives])
    front = [r for r, keep in zip(rows, mask) if keep]
    first = objectives[0]
    return sorted(front, key=lambda r: r["objectives"][first.name], reverse=first.direction == "maximize")


def pareto_table(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str], fmt_params: Any) -> Table:
    """A rich table of :func:`pareto_rows`: sample, each objective, parameters (``fmt_params(params)``)."""
    table = Table(title=f"Pareto set ({len(rows)} non-dominated feasible experiments)")
    table.add_column("sample")
    for name in objectives:
        table.add_column(name, justify="right")
    table.add_column("parameters")
    for r in rows:
        table.add_row(str(r["sample"]), *(f"{r['objectives'][n]:.3f}" for n in objectives), fmt_params(r["params"]))
    return table
