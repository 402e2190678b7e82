"""The campaign as a policy saw it when it made a decision: :func:`state_at_decision`.

Off-policy learning from the ledger needs each decision's input again. The state is rebuilt from
the experiments' timestamps, so it matches what :func:`db.state.load_state` returned at the
decision's ``made_at``:

* observations: experiments of earlier decisions measured or failed at or before ``made_at``, in
  order of completion; an observation carries its reward (under the campaign's active reward
  version) only if it was rewarded by ``made_at``;
* pending: the decision's logged ``pending_experiment_ids`` (what was in flight then);
* budget_remaining: the budget minus the experiments of earlier decisions not cancelled by then;
* decision_index and seed as logged, ``now = made_at``.

A later relabel changes reward values, not which experiments were observed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.decisions import get_decision
from db.experiments import list_experiments
from db.records import ExperimentInfo
from db.rewards import get_reward_definition, objectives_for, rewards_for
from lab.experiment import ExperimentState
from lab.search_space import SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment

__all__ = ["state_at_decision"]


def _done_at(e: ExperimentInfo) -> datetime | None:
    return e.timestamps.get("measured") or e.timestamps.get("failed")


def _done_by(e: ExperimentInfo, at: datetime) -> bool:
    """Whether ``e`` was measured or failed at or before ``at``."""
    done = _done_at(e)
    return done is not None and done <= at


def state_at_decision(session: Session, decision_id: int) -> CampaignState:
    """The :class:`CampaignState` the policy was given for decision ``decision_id`` (see module docstring).

    Raises:
        DecisionNotFound: no decision has this id.
    """
    decision = get_decision(session, decision_id)
    at = decision.made_at
    campaign = campaign_row(session, decision.campaign_id)
    spec = campaign.spec
    definition = get_reward_definition(session, decision.campaign_id)
    rewards = rewards_for(session, decision.campaign_id, definition.version)
    objectives = objectives_for(session, decision.campaign_id)
    earlier = [e for e in list_experiments(session, decision.campaign_id) if e.decision_index < decision.index]
    completed = [e for e in earlier if _done_by(e, at)]
    completed.sort(key=lambda e: (_done_at(e), e.id))
    observations = []
    for e in completed:
        failed = e.timestamps.get("failed") is not None and e.timestamps["failed"] <= at
        rewarded = e.timestamps.get("rewarded") is not None and e.timestamps["rewarded"] <= at
        reward = rewards.get(e.id, definition.failure_reward if failed else None) if (rewarded or failed) else None
        observations.append(Observation(dict(e.params), dict(objectives.get(e.id, {})), reward, failed, e.id))
    by_id = {e.id: e for e in earlier}
    pending = [PendingExperiment(dict(by_id[i].params), by_id[i].expected_completion, i)
               for i in decision.pending_experiment_ids if i in by_id]
    budget = (spec.get("budget") or {}).get("experiments")
    used = sum(1 for e in earlier if not (e.state is ExperimentState.CANCELLED and e.timestamps["cancelled"] <= at))
    return CampaignState(
        space=SearchSpace.from_dict(spec["space"]),
        objectives=tuple(Objective.from_dict(o) for o in spec["objectives"]),
        observations=tuple(observations),
        pending=tuple(pending),
        budget_remaining=None if budget is None else max(int(budget) - used, 0),
        now=at,
        decision_index=decision.index,
        seed=int(campaign.seed),
    )
