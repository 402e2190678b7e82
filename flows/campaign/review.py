"""The approval gate: what waits for a scientist, and approving or rejecting it batch by batch.

A campaign whose spec says ``approval_required = true`` records each decision (one batch of
proposals) and dispatches nothing of it until a scientist approves it. A batch **waits** while it is
neither approved nor rejected and its experiments have not started. :func:`waiting_batches` lists
those with each experiment's parameters and the policy's predicted outcome (the GP policies store
``predicted`` ``{"of", "mean", "std"}`` per proposal; policies without a model have none).

:func:`approve` releases every waiting batch, or one (``lab approve ID --decision N``).
:func:`reject` records the rejection and its reason: the batch's experiments are cancelled with
the reason ``"rejected: <reason>"`` and never dispatched, their parameters reach the policy as
``CampaignState.rejected`` (no policy proposes them again), an event ``decision_rejected`` is
logged, and the engine proposes again for the slots and budget they freed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import db
from flows.errors import CampaignControlError
from lab.experiment import ExperimentState

__all__ = ["WaitingBatch", "WaitingExperiment", "approve", "format_predicted", "reject",
           "waiting_batches"]

S = ExperimentState
_OPEN = ("queued", "running", "paused")


@dataclass(frozen=True)
class WaitingExperiment:
    """One proposal of a waiting batch: its sample, parameters and the policy's prediction (or ``None``)."""

    sample_id: str
    params: dict[str, Any]
    predicted: dict[str, Any] | None
    fallback: str | None


@dataclass(frozen=True)
class WaitingBatch:
    """A decision waiting for approval (``index`` is what ``--decision`` takes)."""

    index: int
    made_at: datetime
    policy: str
    policy_version: str
    experiments: tuple[WaitingExperiment, ...]


def _waits(decision: db.DecisionInfo, states: Mapping[int, ExperimentState]) -> bool:
    return (decision.approved_at is None and decision.rejected_at is None and bool(decision.experiment_ids)
            and all(states.get(i) == S.PROPOSED for i in decision.experiment_ids))


def waiting_batches(store: db.Store, campaign_id: int) -> list[WaitingBatch]:
    """The campaign's batches waiting for approval, oldest first (none unless ``approval_required``).

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        if not info.approval_required:
            return []
        experiments = {e.id: e for e in db.list_experiments(s, campaign_id)}
        decisions = db.list_decisions(s, campaign_id)
    states = {i: e.state for i, e in experiments.items()}
    out = []
    for d in decisions:
        if not _waits(d, states):
            continue
        details = d.detail.get("proposal_details", [])
        rows = []
        for k, exp_id in enumerate(d.experiment_ids):
            detail = details[k] if k < len(details) else {}
            predicted = detail.get("predicted")
            rows.append(WaitingExperiment(experiments[exp_id].sample_id, dict(experiments[exp_id].params),
                                          dict(predicted) if isinstance(predicted, Mapping) else None,
                                          detail.get("fallback")))
        out.append(WaitingBatch(d.index, d.made_at, d.policy, d.policy_version, tuple(rows)))
    return out


def format_predicted(row: WaitingExperiment) -> str:
    """``reward 0.812 ± 0.050`` from the policy's prediction; ``—`` when it made none (with the fallback's name)."""
    p = row.predicted
    if p is None or not isinstance(p.get("mean"), (int, float)):
        return "—" + (f" ({row.fallback} fallback)" if row.fallback else "")
    std = p.get("std")
    return f"{p.get('of', 'target')} {float(p['mean']):.3f}" + (f" ± {float(std):.3f}" if isinstance(std, (int, float)) else "")


def _reviewable(s: Any, campaign_id: int, index: int, verb: str) -> db.DecisionInfo:
    """The campaign's decision ``index`` if it waits for approval, else a :class:`CampaignControlError` saying why."""
    info = db.get_campaign(s, campaign_id)
    if info.status not in _OPEN:
        raise CampaignControlError(f"campaign {campaign_id} is {info.status}; there is nothing to {verb}")
    decision = db.decision_at_index(s, campaign_id, index)
    if decision is None:
        count = len(db.list_decisions(s, campaign_id))
        known = f"its decisions are 0 to {count - 1}" if count else "it has made no decision yet"
        raise CampaignControlError(f"campaign {campaign_id} has no decision {index} ({known})")
    if not info.approval_required:
        raise CampaignControlError(f"campaign {campaign_id} does not wait for approval (its spec has no "
                                   f"approval_required = true); decision {index} was dispatched as made")
    if decision.rejected_at is not None:
        raise CampaignControlError(f"decision {index} of campaign {campaign_id} was rejected at "
                                   f"{decision.rejected_at:%Y-%m-%d %H:%M} UTC ({decision.review_reason})")
    if decision.approved_at is not None:
        raise CampaignControlError(f"decision {index} of campaign {campaign_id} was already approved at "
                                   f"{decision.approved_at:%Y-%m-%d %H:%M} UTC")
    states = {e.id: e.state for e in db.list_experiments(s, campaign_id)}
    if not _waits(decision, states):
        raise CampaignControlError(f"decision {index} of campaign {campaign_id} does not wait for approval "
                                   f"(its experiments are {', '.join(sorted({states[i].value for i in decision.experiment_ids}))})")
    return decision


def approve(store: db.Store, campaign_id: int, at: datetime, decision: int | None = None) -> list[int]:
    """Approve every batch waiting for approval, or only decision ``decision``; returns the indices approved.

    Raises:
        CampaignControlError: the campaign is over, or decision ``decision`` does not exist or does
            not wait (approved, rejected, started, or the campaign needs no approval).
    """
    with store.session() as s:
        if decision is not None:
            d = _reviewable(s, campaign_id, decision, "approve")
            db.approve_decision(s, d.id, at)
            return [d.index]
        info = db.get_campaign(s, campaign_id)
        if info.status not in _OPEN:
            raise CampaignControlError(f"campaign {campaign_id} is {info.status}; there is nothing to approve")
        states = {e.id: e.state for e in db.list_experiments(s, campaign_id)}
        waiting = [d for d in db.list_decisions(s, campaign_id) if _waits(d, states)] if info.approval_required else []
        for d in waiting:
            db.approve_decision(s, d.id, at)
    return [d.index for d in waiting]


def reject(store: db.Store, campaign_id: int, decision: int, reason: str, at: datetime) -> db.DecisionInfo:
    """Reject decision ``decision``'s batch with ``reason`` (see the module docstring); returns the decision.

    Raises:
        CampaignControlError: no reason given, the campaign is over, or the decision does not
            exist or does not wait for approval.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise CampaignControlError("give a reason for the rejection (--reason TEXT): the ledger keeps it with the batch")
    with store.session() as s:
        d = _reviewable(s, campaign_id, decision, "reject")
        rejected = db.reject_decision(s, d.id, at, reason)
        samples = [db.get_experiment(s, i).sample_id for i in rejected.experiment_ids]
        db.log_event(s, at, "info", "decision_rejected",
                     f"decision {d.index} rejected by a scientist ({', '.join(samples)}): {reason}",
                     campaign_id=campaign_id,
                     detail={"decision_index": d.index, "experiment_ids": list(rejected.experiment_ids), "reason": reason})
    return rejected
