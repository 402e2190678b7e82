"""The milestones of a campaign, written to the store's event log as they happen.

The event log (:func:`db.log_event`) holds what went wrong; these are the moments a scientist
follows a campaign by: ``lab worker`` prints them, ``lab status --watch`` follows them and
:mod:`flows.notify` sends the ones asked for. Each is logged in the transaction that makes it
true (the decision with its experiments, the result with its reward), so the log never says
more than the ledger. Kinds and their ``detail``:

* ``campaign_claimed``: a worker took the campaign (``worker``).
* ``decision_made``: the policy proposed a batch (``index``, ``experiments``, ``policy``,
  ``version``, ``approval_required``).
* ``approval_waiting``: that batch waits for ``lab approve`` (``index``, ``experiments``).
* ``experiment_finished``: an experiment has its result (``experiment_id``, ``sample``, ``state``
  ``rewarded`` or ``failed``, ``objectives``, ``reward``, ``best_reward`` so far, ``finished``
  and ``budget`` experiments).
* ``campaign_completed`` / ``campaign_cancelled``: the campaign ended (``finished`` experiments,
  ``best_reward``, ``best_sample``). A failed one logs ``campaign_failed`` with its reason
  (:mod:`flows.campaign.failure`).

Lost experiments (``experiment_lost``), instrument faults (``instrument_unreachable``,
``dispatch_failed``, ``poll_failed``) and policy updates (``policy_update``) are logged where
they happen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import db
from lab.experiment import ExperimentState
from lab.spec import CampaignSpec

__all__ = ["campaign_claimed", "campaign_ended", "decision_made", "experiment_finished"]

S = ExperimentState
_RESULTS = (S.REWARDED, S.FAILED, S.MEASURED)


def _label(s: Session, campaign_id: int) -> str:
    return f"campaign {campaign_id} ({db.get_campaign(s, campaign_id).name})"


def campaign_claimed(store: db.Store, campaign_id: int, worker: str, at: datetime) -> None:
    """Log, in a transaction of its own, that ``worker`` took campaign ``campaign_id`` (``at``: the campaign's clock)."""
    with store.session() as s:
        db.log_event(s, at, "info", "campaign_claimed", f"{_label(s, campaign_id)} claimed by worker {worker}",
                     campaign_id=campaign_id, detail={"worker": worker})


def decision_made(s: Session, campaign_id: int, experiment_ids: list[int], approval_required: bool, at: datetime) -> None:
    """Log the decision that created ``experiment_ids`` and, when it needs approval, that it waits for it."""
    if not experiment_ids:
        return
    decision = db.get_decision(s, db.get_experiment(s, experiment_ids[0]).decision_id)
    n = len(experiment_ids)
    detail: dict[str, Any] = {"index": decision.index, "experiments": n, "policy": decision.policy,
                              "version": decision.policy_version, "approval_required": approval_required}
    label = _label(s, campaign_id)
    wait = "; awaiting approval" if approval_required else ""
    db.log_event(s, at, "info", "decision_made", f"{label}: decision {decision.index}, {decision.policy} "
                 f"{decision.policy_version} proposed {n} experiment(s){wait}", campaign_id=campaign_id, detail=detail)
    if approval_required:
        db.log_event(s, at, "info", "approval_waiting", f"{label}: batch {decision.index} ({n} experiment(s)) waits for "
                     f"approval: lab approve {campaign_id}", campaign_id=campaign_id,
                     detail={"index": decision.index, "experiments": n})


def _best(s: Session, campaign_id: int) -> tuple[float | None, str | None, int]:
    """Best reward so far (active version), its sample, and how many experiments have a result."""
    version = db.get_reward_definition(s, campaign_id).version
    rewards = db.rewards_for(s, campaign_id, version)
    done = [e for e in db.list_experiments(s, campaign_id, states=list(_RESULTS))]
    rewarded = [e for e in done if e.state == S.REWARDED and e.id in rewards]
    if not rewarded:
        return None, None, len(done)
    top = max(rewarded, key=lambda e: rewards[e.id])
    return rewards[top.id], top.sample_id, len(done)


def experiment_finished(s: Session, spec: CampaignSpec, experiment_id: int, at: datetime) -> None:
    """Log the result of an experiment just analysed (nothing when it has none yet)."""
    exp = db.get_experiment(s, experiment_id)
    if exp.state not in _RESULTS:
        return
    cid = exp.campaign_id
    objectives = db.latest_objectives(s, experiment_id) or {}
    version = db.get_reward_definition(s, cid).version
    reward = db.rewards_for(s, cid, version).get(experiment_id)
    best, _, finished = _best(s, cid)
    budget = spec.budget.experiments
    shown = ", ".join(f"{k} {v:.3f}" for k, v in objectives.items())
    outcome = f"reward {reward:.3f}" if reward is not None else "no reward"
    why = f" ({exp.reason})" if exp.state == S.FAILED and exp.reason else ""
    db.log_event(s, at, "info", "experiment_finished",
                 f"{_label(s, cid)}: {exp.sample_id} {exp.state.value}{why}: {shown or 'no objectives'}; {outcome} "
                 f"[{finished}/{budget if budget is not None else '?'}]", campaign_id=cid,
                 detail={"experiment_id": experiment_id, "sample": exp.sample_id, "state": exp.state.value,
                         "objectives": objectives, "reward": reward, "best_reward": best, "finished": finished,
                         "budget": budget})


def campaign_ended(s: Session, campaign_id: int, status: str, at: datetime) -> None:
    """Log that the campaign ended ``completed`` or ``cancelled``, with its best result."""
    if status not in ("completed", "cancelled"):
        return
    best, sample, finished = _best(s, campaign_id)
    found = f"best {sample}, reward {best:.3f}" if best is not None and sample is not None else "no rewarded experiment"
    db.log_event(s, at, "info", f"campaign_{status}", f"{_label(s, campaign_id)} {status}: {finished} experiment(s) "
                 f"with a result; {found}", campaign_id=campaign_id,
                 detail={"finished": finished, "best_reward": best, "best_sample": sample})
