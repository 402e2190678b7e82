"""How a campaign ends badly: failed at once with its reason, alone, and never reported as completed.

* :func:`fail_campaign`: a campaign that cannot go on (its policy does not load, its spec does not
  fit this lab, its code raised) is marked ``failed`` with the reason, in one line, as an event. Its
  unstarted experiments are cancelled; its jobs in flight are aborted on their instruments (best
  effort: an instrument that does not answer is left for its deadline) and lost with the reason,
  so the instruments are free for the rest of the queue.
* :func:`final_status`: a campaign that ran out of budget ends ``completed`` only if at least one
  experiment gave a result; when every experiment was lost or refused it ends ``failed``, with the
  commonest reason.

Example:
    >>> one_line(ValueError("bad\\nthing"))
    'ValueError: bad thing'
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

import db
from flows.campaign import instrument_calls as calls
from instruments.errors import InstrumentError
from instruments.protocol import StepDriver
from lab.experiment import ExperimentState

__all__ = ["fail_campaign", "final_status", "one_line"]

log = logging.getLogger(__name__)
S = ExperimentState
_MAX_REASON = 400


def one_line(exc: BaseException) -> str:
    """An error as one line a person can read: its class and message, at most 400 characters."""
    text = " ".join(str(exc).split()) or "(no message)"
    line = f"{type(exc).__name__}: {text}"
    return line if len(line) <= _MAX_REASON else line[:_MAX_REASON - 1] + "…"


def fail_campaign(store: db.Store, campaign_id: int, reason: str, now: datetime,
                  instruments: Mapping[str, StepDriver] | None = None) -> None:
    """Mark the campaign failed with ``reason``, cancel what has not started and lose what is in flight."""
    why = f"campaign failed: {reason}"
    with store.session() as s:
        steps = db.open_steps(s, campaign_id)
    for step in steps:
        inst = (instruments or {}).get(step.instrument or "")
        if inst is not None and step.state == "acked":
            try:
                calls.call(inst.abort)
                calls.call(inst.release_step, step.idempotency_key)
            except InstrumentError as exc:
                log.warning("aborting %s on %s failed: %s", step.idempotency_key, inst.name, exc)
        with store.session() as s:
            db.fail_step(s, step.id, now, why, lost=step.state == "acked")
    with store.session() as s:
        for exp in db.list_experiments(s, campaign_id, states=[S.PROPOSED, S.DISPATCHED, S.RUNNING]):
            db.transition(s, exp.id, S.CANCELLED if exp.state == S.PROPOSED else S.LOST, now, reason=why)
        if db.get_campaign(s, campaign_id).status not in db.TERMINAL_CAMPAIGN_STATUSES:
            db.set_campaign_status(s, campaign_id, "failed", now)
        db.log_event(s, now, "error", "campaign_failed", reason, campaign_id=campaign_id)


def final_status(store: db.Store, campaign_id: int) -> tuple[str, str | None]:
    """How a campaign with nothing left to do ends: ``("completed", None)`` or ``("failed", reason)``."""
    with store.session() as s:
        exps = db.list_experiments(s, campaign_id)
    results = [e for e in exps if e.state in (S.MEASURED, S.REWARDED, S.FAILED)]
    lost = [e for e in exps if e.state == S.LOST]
    if results or not lost:
        return "completed", None
    reasons = Counter(e.reason or "no reason recorded" for e in lost)
    common, n = reasons.most_common(1)[0]
    return "failed", f"all {len(lost)} experiment(s) were lost or refused; {n} of them: {common}"
