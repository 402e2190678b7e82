"""What a policy sees, from the ledger: the campaign now, or as it was at one of its decisions.

:func:`load_state` is the live view (``lab worker`` proposes from it); :func:`state_at_decision`
rebuilds the input of a past decision for off-policy learning. Both are :func:`_state_as_of`: the
same observations, failure rewards, pending experiments and budget, with the decision's time as
the bound when there is one:

* observations: experiments measured, rewarded or failed (by the bound: measured or failed at or
  before it, of earlier decisions only), in order of completion, with their latest analysed
  objective values and their reward under the reward version (the campaign's active one by
  default). A chemistry failure without a stored reward gets the definition's ``failure_reward``;
  other experiments without a stored reward (by the bound: not yet rewarded then) get ``None``;
* pending: experiments proposed, dispatched or running (by the bound: the decision's logged
  ``pending_experiment_ids``), with their expected completion;
* budget_remaining: ``spec["budget"]["experiments"]`` minus every experiment not cancelled (by
  then), never below 0; ``None`` when the budget is unlimited;
* rejected: the experiments of batches a scientist rejected (by the bound: rejected before it was
  made, by the decision index logged with the rejection, of earlier decisions only), with the
  reason, in order of their ids; they use no budget;
* constraints: the spec's ``[[constraints]]`` (none for a spec stored before they existed);
* decision_index: decisions made so far (by the bound: the decision's own index); seed as stored.

A later relabel changes reward values, not which experiments were observed. The campaign's stored
``spec`` must hold ``"space"`` (:meth:`lab.search_space.SearchSpace.to_dict`), ``"objectives"``
(:meth:`lab.state.Objective.to_dict` each, primary first) and ``"budget"``
(``{"experiments": int | None}``); the spec loader guarantees it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.decisions import get_decision
from db.experiments import list_experiments
from db.models import Decision
from db.records import DecisionInfo, ExperimentInfo
from db.rewards import get_reward_definition, objectives_for, rewards_for
from db.types import aware_utc
from lab.experiment import ExperimentState
from lab.search_space import SearchSpace
from lab.state import CampaignState, Objective, Observation, OutcomeConstraint, PendingExperiment, RejectedProposal

__all__ = ["COMPLETED_STATES", "PENDING_STATES", "load_state", "state_at_decision"]

S = ExperimentState
#: Experiments a policy has seen the outcome of.
COMPLETED_STATES = (S.MEASURED, S.REWARDED, S.FAILED)
#: Experiments still awaited (a policy must not propose them again).
PENDING_STATES = (S.PROPOSED, S.DISPATCHED, S.RUNNING)


def load_state(session: Session, campaign_id: int, *, now: datetime, reward_version: str | None = None) -> CampaignState:
    """The campaign as a policy sees it at ``now`` (see the module docstring).

    Raises:
        CampaignNotFound: no campaign has this id.
        RewardVersionNotFound: the campaign has no such reward version.
    """
    return _state_as_of(session, campaign_id, aware_utc(now, "now"), None, reward_version)


def state_at_decision(session: Session, decision_id: int) -> CampaignState:
    """The :class:`CampaignState` the policy was given for decision ``decision_id`` (see the module docstring).

    Raises:
        DecisionNotFound: no decision has this id.
    """
    decision = get_decision(session, decision_id)
    return _state_as_of(session, decision.campaign_id, decision.made_at, decision, None)


def _state_as_of(session: Session, campaign_id: int, now: datetime, decision: DecisionInfo | None,
                 reward_version: str | None) -> CampaignState:
    campaign = campaign_row(session, campaign_id)
    spec = campaign.spec
    definition = get_reward_definition(session, campaign_id, reward_version)
    rewards = rewards_for(session, campaign_id, definition.version)
    objectives = objectives_for(session, campaign_id)
    experiments = list_experiments(session, campaign_id)
    if decision is not None:
        experiments = [e for e in experiments if e.decision_index < decision.index]
    by = None if decision is None else decision.made_at

    def happened(e: ExperimentInfo, event: str) -> bool:
        """Whether ``e`` went through ``event`` (by the bound, when there is one)."""
        at = e.timestamps.get(event)
        return at is not None and (by is None or at <= by)

    completed = [e for e in experiments if (e.state in COMPLETED_STATES if by is None
                                            else happened(e, "measured") or happened(e, "failed"))]
    completed.sort(key=lambda e: (e.timestamps.get("measured") or e.timestamps.get("failed") or e.proposed_at, e.id))
    observations = []
    for e in completed:
        failed = e.state is S.FAILED if by is None else happened(e, "failed")
        known = by is None or failed or happened(e, "rewarded")
        reward = rewards.get(e.id, definition.failure_reward if failed else None) if known else None
        observations.append(Observation(dict(e.params), dict(objectives.get(e.id, {})), reward, failed, e.id))
    if decision is None:
        pending = [PendingExperiment(dict(e.params), e.expected_completion, e.id) for e in experiments
                   if e.state in PENDING_STATES]
        index = int(session.scalar(select(func.count()).select_from(Decision)
                                   .where(Decision.campaign_id == campaign_id)) or 0)
    else:
        by_id = {e.id: e for e in experiments}
        pending = [PendingExperiment(dict(by_id[i].params), by_id[i].expected_completion, i)
                   for i in decision.pending_experiment_ids if i in by_id]
        index = decision.index
    reviews = session.execute(select(Decision.id, Decision.rejected_at, Decision.review_reason, Decision.detail)
                              .where(Decision.campaign_id == campaign_id, Decision.rejected_at.is_not(None)))
    reasons = {int(i): str(reason or "") for i, at, reason, info in reviews if _told(at, info, decision)}
    rejected = [RejectedProposal(dict(e.params), reasons[e.decision_id], e.id) for e in experiments
                if e.decision_id in reasons]
    budget = (spec.get("budget") or {}).get("experiments")
    used = sum(1 for e in experiments if not happened(e, "cancelled") and e.decision_id not in reasons)
    return CampaignState(
        space=SearchSpace.from_dict(spec["space"]),
        objectives=tuple(Objective.from_dict(o) for o in spec["objectives"]),
        observations=tuple(observations),
        pending=tuple(pending),
        budget_remaining=None if budget is None else max(int(budget) - used, 0),
        now=now,
        decision_index=index,
        seed=int(campaign.seed),
        rejected=tuple(rejected),
        constraints=tuple(OutcomeConstraint.from_dict(c) for c in spec.get("constraints") or ()),
    )


def _told(rejected_at: datetime | None, detail: dict[str, object] | None, decision: DecisionInfo | None) -> bool:
    """Whether a batch rejected at ``rejected_at`` was rejected before ``decision`` was made (live: always).

    The rejection logs the index of the next decision (``rejected_before_decision``), which orders
    it among decisions whatever clock stamped either; without it, the times are compared.
    """
    if decision is None:
        return True
    before = (detail or {}).get("rejected_before_decision")
    if isinstance(before, int):
        return before <= decision.index
    return rejected_at is not None and aware_utc(rejected_at) <= decision.made_at
