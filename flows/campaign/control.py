"""Campaign control from the CLI: pause, resume, cancel, approve, reject, relabel.

Each function changes the store only; the engine that runs the campaign reads the store on every
tick and follows (``paused``: results are still collected; a deferred pause lets started experiments
finish every step, a pause ``now`` starts no new step (:mod:`flows.campaign.pause`); ``cancelled``:
unstarted experiments are cancelled, started ones finish and are recorded). Approving and rejecting
proposed batches is :mod:`flows.campaign.review`.

Reward files (``lab relabel ID --reward FILE``) are TOML::

    version = "v2"
    terms = [{ objective = "target_fraction", weight = 1.0 }, { objective = "impurity_fraction", weight = 0.5 }]
    failure_reward = -0.5

Weights are importance (``>= 0``); each objective's sense gives the sign, so the file above
rewards BaTiO3 and penalises impurity at half the weight (:mod:`lab.reward`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import db
from flows.campaign.analysis import reward_experiment
from flows.campaign.review import approve, reject
from flows.errors import CampaignControlError
from lab.errors import SpecError
from lab.experiment import ExperimentState
from lab.reward import RewardDefinition
from lab.spec import CampaignSpec, read_toml
from lab.spec_objectives import reward_file_problems

__all__ = ["CampaignControlError", "RelabelResult", "approve", "cancel", "load_reward_file", "pause", "reject", "relabel",
           "resume"]

_ALLOWED = {
    "pause": ("queued", "running", "paused"),
    "resume": ("paused",),
    "cancel": ("queued", "running", "paused"),
}
_DONE = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def _move(store: db.Store, campaign_id: int, action: str, status: str, at: datetime, pause_mode: str | None = None) -> str:
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        if info.status not in _ALLOWED[action]:
            *rest, last = _ALLOWED[action]
            listed = f"{', '.join(rest)} or {last}" if rest else last
            raise CampaignControlError(f"campaign {campaign_id} is {info.status}; only {listed} campaigns can be {_DONE[action]}")
        if action == "resume" and info.started_at is None:
            status = "queued"  # paused before it ever ran: back in the queue
        if action == "pause" and info.status == "paused" and info.pause_mode == pause_mode:
            raise CampaignControlError(f"campaign {campaign_id} is already paused ({pause_mode})")
        db.set_campaign_status(s, campaign_id, status, at, pause_mode=pause_mode)
        how = f" ({pause_mode})" if pause_mode else ""
        db.log_event(s, at, "info", f"campaign_{action}", f"campaign {campaign_id} {_DONE[action]}{how} by a scientist",
                     campaign_id=campaign_id, detail={"pause_mode": pause_mode} if pause_mode else None)
    return status


def pause(store: db.Store, campaign_id: int, at: datetime, now: bool = False) -> str:
    """Pause: deferred (started experiments finish every step) or, with ``now``, no new step starts.

    Nothing new starts either way; steps in flight are still collected. A paused campaign may be
    paused again in the other mode. Returns the new status.
    """
    return _move(store, campaign_id, "pause", "paused", at, "now" if now else "deferred")


def resume(store: db.Store, campaign_id: int, at: datetime) -> str:
    """Let a paused campaign go on (its worker takes it back on the next tick)."""
    return _move(store, campaign_id, "resume", "running", at)


def cancel(store: db.Store, campaign_id: int, at: datetime) -> str:
    """Cancel: nothing new is dispatched; started experiments finish and are recorded."""
    with store.session() as s:
        never_ran = db.get_campaign(s, campaign_id).started_at is None
    status = _move(store, campaign_id, "cancel", "cancelled", at)
    if never_ran:  # no engine will ever tick it: cancel its unstarted experiments here
        with store.session() as s:
            for e in db.list_experiments(s, campaign_id, states=[ExperimentState.PROPOSED]):
                db.transition(s, e.id, ExperimentState.CANCELLED, at, reason="campaign cancelled before it ran")
    return status


def load_reward_file(path: str | Path) -> RewardDefinition:
    """Read and validate a reward file (see the module docstring).

    Read within the bounds of :mod:`lab.toml_input` (no NaN, infinity or integer beyond 64 bits).

    Raises:
        SpecError: (``what == "reward file"``) the file cannot be read or a field is wrong; lists every
            problem in one pass (:func:`lab.spec_objectives.reward_file_problems`).
    """
    path = Path(path)
    spec, problems = reward_file_problems(read_toml(path, "reward file"))
    if problems or spec is None:
        raise SpecError(str(path), problems, "reward file")
    return RewardDefinition.from_dict({**spec.model_dump(), "convention": "sense"})


@dataclass(frozen=True)
class RelabelResult:
    """What a relabel did: the version, how many rewards it computed, and whether it is now active."""

    version: str
    rewarded: int
    failed: int
    active: bool


def relabel(store: db.Store, campaign_id: int, reward: RewardDefinition, at: datetime, activate: bool = False) -> RelabelResult:
    """Recompute every experiment's reward under ``reward`` from its stored analysis; old ones are kept."""
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        spec = CampaignSpec.from_store_dict(info.spec)
        db.add_reward_definition(s, campaign_id, reward, at)
        rewarded = failed = 0
        for e in db.list_experiments(s, campaign_id):
            if e.state == ExperimentState.FAILED:
                db.store_reward(s, e.id, reward.version, reward.failure_reward, at)
                failed += 1
            elif e.state in (ExperimentState.MEASURED, ExperimentState.REWARDED) and db.latest_objectives(s, e.id):
                reward_experiment(s, spec, e.id, at, version=reward.version)
                rewarded += 1
        if activate:
            db.set_active_reward_version(s, campaign_id, reward.version)
        db.log_event(s, at, "info", "relabel", f"rewards recomputed under {reward.version} for {rewarded + failed} experiments",
                     campaign_id=campaign_id)
    return RelabelResult(reward.version, rewarded, failed, activate)
