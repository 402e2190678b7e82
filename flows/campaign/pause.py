"""Two kinds of pause, and where a paused campaign's samples are left.

``lab pause ID`` is **deferred**: an experiment already started (any step dispatched) goes on
through all its steps, so no annealed sample waits unscanned; no experiment starts and nothing new
is proposed. ``lab pause ID --now`` dispatches no new step of any experiment; steps in flight
finish and are collected. Either way the engine keeps ticking, collects results and analyses
finished experiments; ``lab resume`` continues both. The mode is the campaign's ``pause_mode``
(:data:`db.PAUSE_MODES`), cleared on resume.

:func:`held_back` is the engine's one rule for whether an experiment's next step may go out
(approval, pause); :func:`whereabouts` says, one line per sample, where each unfinished experiment
is (``C1-E7 annealed, waiting for xrd on xrd``, ``C1-E8 on furnace-2 (anneal in flight...)``,
``C1-E9 proposed, not started``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

import db
from lab.experiment import ExperimentState
from lab.spec import CampaignSpec

__all__ = ["MODE_WORDS", "held_back", "hold_reason", "paused_mode", "status_label", "whereabouts"]

S = ExperimentState
#: What each pause mode means, in a few words (``lab status``, ``lab pause``).
MODE_WORDS = {"deferred": "deferred: started experiments finish", "now": "now: no new step starts"}
#: A sample after each workflow step, for the whereabouts lines (other steps: "after <name>").
_DONE_WORDS = {"dose": "dosed", "anneal": "annealed", "xrd": "scanned", "uvvis": "measured by UV-vis"}


def paused_mode(store: db.Store, campaign_id: int) -> str | None:
    """The campaign's pause mode (``deferred``, ``now``), or ``None`` when it is not paused."""
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
    return info.pause_mode if info.status == "paused" else None


def held_back(s: Session, exp: db.ExperimentInfo, approval_required: bool, pause_mode: str | None) -> str | None:
    """Why the experiment's next step may not go out now (``"pause"``, ``"approval"``), or ``None``.

    Args:
        exp: an active experiment (proposed, dispatched or running).
        approval_required: whether the campaign's batches wait for a scientist.
        pause_mode: ``None`` while running; ``"deferred"`` while paused that way (the engine
            dispatches nothing at all under ``"now"``).
    """
    return hold_reason(exp.state, approval_required, pause_mode,
                       lambda: db.get_decision(s, exp.decision_id).approved_at is not None)


def hold_reason(state: ExperimentState, approval_required: bool, pause_mode: str | None,
                approved: Callable[[], bool]) -> str | None:
    """:func:`held_back` on facts already at hand (``approved``: whether its decision is approved, asked only if needed)."""
    if state != S.PROPOSED:
        return None  # started: it finishes its steps, under a deferred pause too
    if pause_mode is not None:
        return "pause"
    if approval_required and not approved():
        return "approval"
    return None


def status_label(info: db.CampaignInfo) -> str:
    """The campaign's status, with the pause mode when paused: ``paused (deferred: started experiments finish)``."""
    if info.status == "paused" and info.pause_mode in MODE_WORDS:
        return f"paused ({MODE_WORDS[info.pause_mode]})"
    return info.status


def whereabouts(store: db.Store, campaign_id: int) -> list[str]:
    """One line per unfinished experiment: on which instrument, waiting for which step, or not started.

    Samples in flight come first, then those waiting between steps, then those not started.
    """
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        spec = CampaignSpec.from_store_dict(info.spec)
        names = {str(k): v for k, v in spec.instruments.by_kind().items()}
        mode = info.pause_mode if info.status == "paused" else None
        flying: list[str] = []
        between: list[str] = []
        unstarted: list[str] = []
        for e in db.list_experiments(s, campaign_id, states=[S.PROPOSED, S.DISPATCHED, S.RUNNING]):
            steps = db.list_steps(s, e.id)
            open_step = next((st for st in steps if st.in_flight), None)
            done = [st for st in steps if st.state == "done"]
            if open_step is not None:
                due = f", due {open_step.expected_done_at:%Y-%m-%d %H:%M} UTC" if open_step.expected_done_at else ""
                flying.append(f"{e.sample_id} on {open_step.instrument} ({open_step.name} in flight{due})")
            elif e.state == S.PROPOSED:
                why = held_back(s, e, spec.approval_required, None)
                unstarted.append(f"{e.sample_id} proposed, not started"
                                 + (f" (decision {e.decision_index} waits for approval)" if why == "approval" else ""))
            else:
                between.append(_between(e.sample_id, done, steps, names, mode))
    return flying + between + unstarted


def _between(sample: str, done: list[db.StepInfo], steps: list[db.StepInfo], names: dict[str, list[str]],
             mode: str | None) -> str:
    """A started sample with no step in flight: after which step, waiting for which."""
    after = _DONE_WORDS.get(done[-1].name, f"after {done[-1].name}") if done else "started"
    nxt = next((st for st in steps if st.state == "planned"), None)
    if nxt is None:
        return f"{sample} {after}, all steps done, analysis pending"
    where = "/".join(names.get(nxt.instrument_kind, [])) or nxt.instrument_kind
    goes_on = {"deferred": " (goes on: deferred pause)", "now": " (held until resume)"}.get(mode or "", "")
    return f"{sample} {after}, waiting for {nxt.name} on {where}{goes_on}"
