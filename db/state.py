"""What a policy sees: :func:`load_state` builds a :class:`lab.state.CampaignState` from the ledger.

The campaign's stored ``spec`` dict must hold (the spec loader guarantees it):

* ``"space"``: :meth:`lab.search_space.SearchSpace.to_dict` output,
* ``"objectives"``: a list of :meth:`lab.state.Objective.to_dict` outputs (primary first),
* ``"budget"``: ``{"experiments": int | None}`` (missing or ``None``: unlimited).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.experiments import list_experiments
from db.models import Decision
from db.rewards import get_reward_definition, objectives_for, rewards_for
from db.types import aware_utc
from lab.experiment import ExperimentState
from lab.search_space import SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment

__all__ = ["COMPLETED_STATES", "PENDING_STATES", "load_state"]

#: Experiments a policy has seen the outcome of.
COMPLETED_STATES = (ExperimentState.MEASURED, ExperimentState.REWARDED, ExperimentState.FAILED)
#: Experiments still awaited (a policy must not propose them again).
PENDING_STATES = (ExperimentState.PROPOSED, ExperimentState.DISPATCHED, ExperimentState.RUNNING)


def load_state(session: Session, campaign_id: int, *, now: datetime, reward_version: str | None = None) -> CampaignState:
    """The campaign as a policy sees it at ``now``.

    * observations: experiments ``measured``, ``rewarded`` or ``failed``, in order of completion
      (measured or failed time), with their latest analysed objective values and their reward under
      ``reward_version`` (default: the campaign's active version). A chemistry failure without a
      stored reward gets the definition's ``failure_reward``; other experiments without a stored
      reward get ``None``.
    * pending: experiments ``proposed``, ``dispatched`` or ``running``, with their expected completion.
    * budget_remaining: ``spec["budget"]["experiments"]`` minus every experiment not cancelled
      (never below 0); ``None`` when the budget is unlimited.
    * decision_index: the number of decisions made so far.

    Raises:
        CampaignNotFound: no campaign has this id.
        RewardVersionNotFound: the campaign has no such reward version.
    """
    now = aware_utc(now, "now")
    campaign = campaign_row(session, campaign_id)
    spec = campaign.spec
    definition = get_reward_definition(session, campaign_id, reward_version)
    rewards = rewards_for(session, campaign_id, definition.version)
    objectives = objectives_for(session, campaign_id)
    experiments = list_experiments(session, campaign_id)

    completed = [e for e in experiments if e.state in COMPLETED_STATES]
    completed.sort(key=lambda e: (e.timestamps.get("measured") or e.timestamps.get("failed") or e.proposed_at, e.id))
    observations = []
    for e in completed:
        failed = e.state is ExperimentState.FAILED
        reward = rewards.get(e.id, definition.failure_reward if failed else None)
        observations.append(Observation(dict(e.params), dict(objectives.get(e.id, {})), reward, failed, e.id))
    pending = [PendingExperiment(dict(e.params), e.expected_completion, e.id) for e in experiments if e.state in PENDING_STATES]

    budget = (spec.get("budget") or {}).get("experiments")
    used = sum(1 for e in experiments if e.state is not ExperimentState.CANCELLED)
    remaining = None if budget is None else max(int(budget) - used, 0)
    decisions = session.scalar(select(func.count()).select_from(Decision).where(Decision.campaign_id == campaign_id))
    return CampaignState(
        space=SearchSpace.from_dict(spec["space"]),
        objectives=tuple(Objective.from_dict(o) for o in spec["objectives"]),
        observations=tuple(observations),
        pending=tuple(pending),
        budget_remaining=remaining,
        now=now,
        decision_index=int(decisions or 0),
        seed=int(campaign.seed),
    )
