"""Experiments: state transitions (checked against the lab's state machine) and queries.

Each experiment row moves through :class:`lab.experiment.ExperimentState` with one timestamp column
per state (``proposed_at``, ``dispatched_at``...); :func:`transition` refuses moves the state machine
forbids, before writing anything. Experiments are created by :func:`db.decisions.record_decision`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.errors import ExperimentNotFound, InvalidTransition
from db.models import Decision, Experiment
from db.records import ExperimentInfo
from db.types import aware_utc, maybe_utc
from lab.errors import StateTransitionError
from lab.experiment import ExperimentState

__all__ = ["count_by_state", "experiment_row", "get_experiment", "last_activity", "list_experiments", "transition"]


def _timestamps(row: Experiment) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for state in ExperimentState:
        moment = getattr(row, f"{state.value}_at")
        if moment is not None:
            out[state.value] = moment
    return out


def experiment_info(row: Experiment, decision: Decision) -> ExperimentInfo:
    """Build the public view of an experiment row and its decision row (inside :mod:`db` only)."""
    return ExperimentInfo(
        id=row.id, campaign_id=row.campaign_id, decision_id=row.decision_id, decision_index=decision.index,
        params=copy.deepcopy(row.params), state=ExperimentState(row.state), timestamps=_timestamps(row),
        reason=row.reason, sample_id=row.sample_id or "", expected_completion=row.expected_completion,
        deadline=row.deadline, log_prob=float(row.log_prob), policy=decision.policy,
        policy_version=decision.policy_version,
    )


def _with_decision() -> Select[Experiment, Decision]:
    return (select(Experiment, Decision).join(Decision, Experiment.decision_id == Decision.id)
            .execution_options(populate_existing=True))


def experiment_row(session: Session, experiment_id: int, *, for_update: bool = False) -> Experiment:
    """The experiment's row (inside :mod:`db` only).

    Raises:
        ExperimentNotFound: no experiment has this id.
    """
    query = select(Experiment).where(Experiment.id == experiment_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise ExperimentNotFound(experiment_id)
    return row


def get_experiment(session: Session, experiment_id: int) -> ExperimentInfo:
    """The experiment with this id.

    Raises:
        ExperimentNotFound: no experiment has this id.
    """
    found = session.execute(_with_decision().where(Experiment.id == experiment_id)).first()
    if found is None:
        raise ExperimentNotFound(experiment_id)
    return experiment_info(found[0], found[1])


def _state_values(states: Iterable[ExperimentState | str]) -> list[str]:
    return [ExperimentState(s).value for s in states]


def list_experiments(session: Session, campaign_id: int,
                     states: Iterable[ExperimentState | str] | None = None) -> list[ExperimentInfo]:
    """The campaign's experiments (optionally only those in ``states``), in creation order.

    Raises:
        CampaignNotFound: no campaign has this id.
        ValueError: an unknown state name.
    """
    campaign_row(session, campaign_id)
    query = _with_decision().where(Experiment.campaign_id == campaign_id).order_by(Experiment.id)
    if states is not None:
        query = query.where(Experiment.state.in_(_state_values(states)))
    return [experiment_info(e, d) for e, d in session.execute(query)]


def count_by_state(session: Session, campaign_id: int) -> dict[str, int]:
    """Number of the campaign's experiments in each state (every state listed, zeros included).

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    campaign_row(session, campaign_id)
    counts = {s.value: 0 for s in ExperimentState}
    query = (select(Experiment.state, func.count()).where(Experiment.campaign_id == campaign_id)
             .group_by(Experiment.state))
    for state, n in session.execute(query):
        counts[state] = int(n)
    return counts


def transition(session: Session, experiment_id: int, new_state: ExperimentState | str, at: datetime,
               reason: str | None = None, *, expected_completion: datetime | None = None,
               deadline: datetime | None = None) -> ExperimentInfo:
    """Move an experiment to ``new_state`` at ``at``, setting that state's timestamp.

    Args:
        reason: why it failed, was lost or cancelled (kept in ``reason``; ignored when ``None``).
        expected_completion: a new expected completion time (e.g. when dispatched), if given.
        deadline: a new deadline, if given.

    Returns:
        The experiment after the move.

    Raises:
        ExperimentNotFound: no experiment has this id.
        InvalidTransition: the state machine forbids the move (nothing is written; the lab's
            ``StateTransitionError`` is the cause).
    """
    at = aware_utc(at)
    expected_completion = maybe_utc(expected_completion, "expected_completion")
    deadline = maybe_utc(deadline, "deadline")
    target = ExperimentState(new_state)
    row = experiment_row(session, experiment_id, for_update=True)
    try:
        ExperimentState(row.state).check_transition(target)
    except StateTransitionError as exc:
        raise InvalidTransition(f"experiment {experiment_id} ({row.sample_id}): {exc}") from exc
    row.state = target.value
    setattr(row, f"{target.value}_at", at)
    if reason is not None:
        row.reason = reason
    if expected_completion is not None:
        row.expected_completion = expected_completion
    if deadline is not None:
        row.deadline = deadline
    session.flush()
    return get_experiment(session, experiment_id)


_STATE_TIMES = ("proposed_at", "dispatched_at", "running_at", "measured_at", "rewarded_at", "cancelled_at",
                "failed_at", "lost_at")


def last_activity(session: Session, campaign_id: int) -> datetime | None:
    """The latest state timestamp of any of the campaign's experiments (None when it has none).

    A restarted simulated campaign starts its clock here, so time never runs backwards in the ledger.
    """
    campaign_row(session, campaign_id)
    latest = [session.scalar(select(func.max(getattr(Experiment, col))).where(Experiment.campaign_id == campaign_id))
              for col in _STATE_TIMES]
    found = [t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in latest if t is not None]  # SQLite: naive UTC
    return max(found) if found else None
