"""Bulk step queries for a round of dispatch: what an instrument host or an engine may send or must poll now.

A worker serving split campaigns (:mod:`flows.campaign.hosting`) and a campaign engine ask the
ledger, each round, for two things, in one query each rather than a few per experiment:

* :func:`ready_steps`: the **next planned step** of every active experiment with no step in
  flight and every earlier step done, with what decides whether it may go out now (its
  experiment's state, whether its decision is approved, its campaign's status, pause mode and
  approval setting); the rule itself is the caller's (:func:`flows.campaign.pause.hold_reason`);
* :func:`steps_in_flight_on`: the steps in flight (``intent``/``acked``) whose recorded
  instrument is one of a host's, with the same campaign facts.

Neither claims anything: :func:`db.steps.claim_step_intent` stays the one atomic ``planned ->
intent`` move.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from db.models import Campaign, Decision, Experiment, Step
from db.records import StepInfo
from db.steps import step_info, step_query
from lab.experiment import ExperimentState

__all__ = ["HostedStep", "campaigns_in", "ready_steps", "steps_in_flight_on", "steps_of"]

_IN_FLIGHT = ("intent", "acked")
_ACTIVE = (ExperimentState.PROPOSED.value, ExperimentState.DISPATCHED.value, ExperimentState.RUNNING.value)


@dataclass(frozen=True)
class HostedStep:
    """A step with the facts that decide whether it may be sent or polled now.

    Attributes:
        step: the step.
        experiment_state: its experiment's state.
        approved: whether its experiment's decision was approved by a scientist.
        campaign_status: its campaign's status (``running``, ``paused``...).
        pause_mode: its campaign's pause mode (``deferred``, ``now``; ``None`` unless paused).
        approval_required: whether its campaign's decisions wait for approval.
    """

    step: StepInfo
    experiment_state: ExperimentState
    approved: bool
    campaign_status: str
    pause_mode: str | None
    approval_required: bool


_Row = tuple[Step, Experiment, datetime | None, str, str | None, bool]


def _query() -> Select[Step, Experiment, datetime | None, str, str | None, bool]:
    return (select(Step, Experiment, Decision.approved_at, Campaign.status, Campaign.pause_mode,
                   Campaign.approval_required)
            .join(Experiment, Step.experiment_id == Experiment.id)
            .join(Decision, Experiment.decision_id == Decision.id)
            .join(Campaign, Experiment.campaign_id == Campaign.id)
            .execution_options(populate_existing=True))


def _hosted(rows: list[_Row]) -> list[HostedStep]:
    return [HostedStep(step_info(st, e.campaign_id, e.sample_id), ExperimentState(e.state), approved_at is not None,
                       status, mode, bool(approval)) for st, e, approved_at, status, mode, approval in rows]


def ready_steps(session: Session, *, campaign_ids: Collection[int] | None = None,
                kinds: Collection[str] | None = None) -> list[HostedStep]:
    """The next planned step of each active experiment with nothing in flight, by campaign then experiment.

    A step is ready when it is ``planned``, every earlier step of its experiment is ``done``, no
    step of its experiment is in flight, and the experiment is proposed, dispatched or running (as
    :func:`db.steps.next_planned_step` per experiment). Holds (approval, pause) are not applied.

    Args:
        campaign_ids: only these campaigns (``None``: all).
        kinds: only steps needing one of these instrument kinds (``None``: any).
    """
    other = aliased(Step)
    blocked = exists().where(other.experiment_id == Step.experiment_id,
                             or_(and_(other.seq < Step.seq, other.state != "done"), other.state.in_(_IN_FLIGHT)))
    query = (_query().where(Step.state == "planned", Experiment.state.in_(_ACTIVE), ~blocked)
             .order_by(Experiment.campaign_id, Experiment.id, Step.seq))
    if campaign_ids is not None:
        query = query.where(Experiment.campaign_id.in_(list(campaign_ids)))
    if kinds is not None:
        query = query.where(Step.instrument_kind.in_(list(kinds)))
    return _hosted(list(session.execute(query).tuples()))


def campaigns_in(session: Session, statuses: Collection[str]) -> list[int]:
    """The ids of the campaigns in one of ``statuses``, oldest first (no spec read)."""
    return list(session.scalars(select(Campaign.id).where(Campaign.status.in_(list(statuses))).order_by(Campaign.id)))


def steps_in_flight_on(session: Session, instruments: Collection[str]) -> list[HostedStep]:
    """Steps in flight (``intent``/``acked``) on one of ``instruments``, in any campaign, oldest intent first."""
    query = (_query().where(Step.state.in_(_IN_FLIGHT), Step.instrument.in_(list(instruments)))
             .order_by(Step.intent_at, Step.id))
    return _hosted(list(session.execute(query).tuples()))


def steps_of(session: Session, experiment_ids: Collection[int]) -> dict[int, list[StepInfo]]:
    """The steps of each of these experiments, in plan order, in one query (an experiment with none is absent)."""
    out: dict[int, list[StepInfo]] = {}
    query = step_query().where(Step.experiment_id.in_(list(experiment_ids))).order_by(Step.experiment_id, Step.seq)
    for st, campaign_id, sample_id in session.execute(query):
        out.setdefault(st.experiment_id, []).append(step_info(st, campaign_id, sample_id))
    return out
