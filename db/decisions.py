"""Decisions: one row per call to the policy, and the experiments it proposed.

A decision keeps what an off-policy update needs later (ARCHITECTURE.md, The life of one experiment, steps 3 and 8): the policy name
and version, the joint log-probability of the batch, the experiments pending when it was made, a key
to rebuild the candidate set, and the expected completion and deadline. Each proposal becomes one
experiment in state ``proposed`` with its own conditional log-probability and a sample label
``C<campaign>-E<experiment>``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.errors import ConflictingRecord, DecisionNotFound
from db.experiments import transition
from db.locking import lock_for_write
from db.models import Decision, Experiment
from db.records import DecisionInfo
from db.types import aware_utc, maybe_utc
from lab.experiment import ExperimentState, Proposal

__all__ = ["REJECTED_PREFIX", "approve_decision", "decision_at_index", "get_decision", "list_decisions", "record_decision",
           "reject_decision"]

#: How a rejected experiment's ``reason`` starts (the scientist's reason follows).
REJECTED_PREFIX = "rejected: "


def _info(row: Decision, experiment_ids: Sequence[int]) -> DecisionInfo:
    return DecisionInfo(
        id=row.id, campaign_id=row.campaign_id, index=row.index, policy=row.policy, policy_version=row.policy_version,
        log_prob=float(row.log_prob), pending_experiment_ids=tuple(int(i) for i in row.pending_experiment_ids),
        candidate_key=row.candidate_key, made_at=row.made_at, expected_completion=row.expected_completion,
        deadline=row.deadline, detail=copy.deepcopy(row.detail), approved_at=row.approved_at,
        experiment_ids=tuple(experiment_ids), rejected_at=row.rejected_at, review_reason=row.review_reason,
    )


def _experiment_ids(session: Session, decision_id: int) -> list[int]:
    query = select(Experiment.id).where(Experiment.decision_id == decision_id).order_by(Experiment.id)
    return list(session.scalars(query))


def record_decision(session: Session, campaign_id: int, proposals: Sequence[Proposal], *, pending_ids: Sequence[int],
                    made_at: datetime, expected_completion: datetime | None, deadline: datetime | None,
                    candidate_key: str | None = None, detail: dict[str, Any] | None = None) -> list[int]:
    """Record one decision and create one ``proposed`` experiment per proposal.

    Args:
        proposals: the batch, in the order the policy picked it; all from one policy version.
        pending_ids: ids of the experiments in flight when the policy was asked.
        made_at: when the decision was made (each experiment's ``proposed_at``).
        expected_completion: when the batch's results are expected.
        deadline: after this, unaccounted experiments may be marked lost.
        candidate_key: a key to rebuild the candidate set the policy chose from (e.g. pool name + hash).
        detail: extra JSON-able facts (fallback reason, acquisition values); each proposal's own
            ``detail`` is kept under ``"proposal_details"``.

    Returns:
        The new experiments' ids, in proposal order.

    Raises:
        ValueError: no proposals, or proposals from different policies/versions.
        CampaignNotFound: no campaign has this id.
    """
    if not proposals:
        raise ValueError("record_decision needs at least one proposal")
    makers = {(p.policy, p.policy_version) for p in proposals}
    if len(makers) != 1:
        raise ValueError(f"one decision comes from one policy version; got {sorted(makers)}")
    made_at = aware_utc(made_at, "made_at")
    expected_completion = maybe_utc(expected_completion, "expected_completion")
    deadline = maybe_utc(deadline, "deadline")
    campaign_row(session, campaign_id)
    lock_for_write(session, f"decisions:{campaign_id}")
    last = session.scalar(select(func.max(Decision.index)).where(Decision.campaign_id == campaign_id))
    policy, version = makers.pop()
    decision = Decision(
        campaign_id=campaign_id, index=0 if last is None else int(last) + 1, policy=policy, policy_version=version,
        log_prob=float(sum(float(p.log_prob) for p in proposals)), pending_experiment_ids=[int(i) for i in pending_ids],
        candidate_key=candidate_key, made_at=made_at, expected_completion=expected_completion, deadline=deadline,
        detail={**(detail or {}), "proposal_details": [p.stored_detail() for p in proposals]}, approved_at=None,
    )
    session.add(decision)
    session.flush()
    rows = [
        Experiment(campaign_id=campaign_id, decision_id=decision.id, params=dict(p.params), log_prob=float(p.log_prob),
                   state=ExperimentState.PROPOSED.value, proposed_at=made_at, expected_completion=expected_completion,
                   deadline=deadline)
        for p in proposals
    ]
    session.add_all(rows)
    session.flush()
    for row in rows:
        row.sample_id = f"C{campaign_id}-E{row.id}"
    session.flush()
    return [row.id for row in rows]


def _decision_row(session: Session, decision_id: int) -> Decision:
    row = session.scalars(select(Decision).where(Decision.id == decision_id)
                          .execution_options(populate_existing=True)).first()
    if row is None:
        raise DecisionNotFound(decision_id)
    return row


def get_decision(session: Session, decision_id: int) -> DecisionInfo:
    """The decision with this id.

    Raises:
        DecisionNotFound: no decision has this id.
    """
    row = _decision_row(session, decision_id)
    return _info(row, _experiment_ids(session, row.id))


def list_decisions(session: Session, campaign_id: int) -> list[DecisionInfo]:
    """The campaign's decisions in order of their index.

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    campaign_row(session, campaign_id)
    rows = list(session.scalars(select(Decision).where(Decision.campaign_id == campaign_id).order_by(Decision.index)))
    by_decision: dict[int, list[int]] = {r.id: [] for r in rows}
    query = select(Experiment.decision_id, Experiment.id).where(Experiment.campaign_id == campaign_id).order_by(Experiment.id)
    for decision_id, experiment_id in session.execute(query):
        by_decision.setdefault(decision_id, []).append(experiment_id)
    return [_info(r, by_decision[r.id]) for r in rows]


def decision_at_index(session: Session, campaign_id: int, index: int) -> DecisionInfo | None:
    """The campaign's decision with this index (0, 1, 2...), or ``None`` when it has none.

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    campaign_row(session, campaign_id)
    row = session.scalars(select(Decision).where(Decision.campaign_id == campaign_id, Decision.index == index)
                          .execution_options(populate_existing=True)).first()
    return None if row is None else _info(row, _experiment_ids(session, row.id))


def approve_decision(session: Session, decision_id: int, at: datetime) -> DecisionInfo:
    """Record a scientist's approval of a decision's batch (idempotent: the first approval time stays).

    Raises:
        DecisionNotFound: no decision has this id.
        ConflictingRecord: the batch was rejected.
    """
    at = aware_utc(at)
    lock_for_write(session, f"decision-review:{decision_id}")
    row = _decision_row(session, decision_id)
    if row.rejected_at is not None:
        raise ConflictingRecord(f"decision {row.index} of campaign {row.campaign_id} was rejected "
                                f"({row.review_reason}); it cannot be approved")
    if row.approved_at is None:
        row.approved_at = at
        session.flush()
    return _info(row, _experiment_ids(session, row.id))


def reject_decision(session: Session, decision_id: int, at: datetime, reason: str) -> DecisionInfo:
    """Record a scientist's rejection of a batch and cancel its experiments, none of which has started.

    Each experiment goes to ``cancelled`` with the reason ``"rejected: <reason>"``; the decision keeps
    ``rejected_at`` and ``review_reason`` (what :func:`db.state.load_state` gives the policy as
    rejected parameters) and, in its detail, ``rejected_before_decision``: the index of the next
    decision, so that a rebuilt state knows which later decisions were told of the rejection
    whatever clock stamped it. Rejecting a rejected batch again changes nothing.

    Raises:
        DecisionNotFound: no decision has this id.
        ConflictingRecord: the batch was approved, or one of its experiments has started.
    """
    at = aware_utc(at)
    lock_for_write(session, f"decision-review:{decision_id}")
    row = _decision_row(session, decision_id)
    ids = _experiment_ids(session, row.id)
    if row.rejected_at is not None:
        return _info(row, ids)
    if row.approved_at is not None:
        raise ConflictingRecord(f"decision {row.index} of campaign {row.campaign_id} was approved at "
                                f"{row.approved_at:%Y-%m-%d %H:%M} UTC; it cannot be rejected")
    started = [str(e.sample_id) for e in session.scalars(select(Experiment).where(Experiment.id.in_(ids)))
               if e.state != ExperimentState.PROPOSED.value]
    if started:
        raise ConflictingRecord(f"decision {row.index} of campaign {row.campaign_id} has started experiments "
                                f"({', '.join(started)}); it cannot be rejected")
    row.rejected_at = at
    row.review_reason = reason
    made = session.scalar(select(func.count()).select_from(Decision).where(Decision.campaign_id == row.campaign_id))
    row.detail = {**row.detail, "rejected_before_decision": int(made or 0)}  # clock-free order for db.state_at_decision
    for experiment_id in ids:
        transition(session, experiment_id, ExperimentState.CANCELLED, at, reason=REJECTED_PREFIX + reason)
    session.flush()
    return _info(row, ids)
