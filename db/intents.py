"""The intent log: every intent committed for a step, with the worker name that sent it.

:func:`db.steps.claim_step_intent` writes one row per claim (a first send, and every resend of an
intent after trouble), with the sender's worker name and the wall clock next to the campaign's
clock. The log is append-only: nothing in the ledger updates or deletes its rows. Audits read it
with :func:`list_intents` (``lab bench crash`` checks from it that no two workers ever acted on
one campaign at once).

Example:
    >>> from datetime import datetime, timezone
    >>> from db.engine import open_store
    >>> store = open_store("sqlite://")
    >>> with store.session() as s:
    ...     list_intents(s, [1])
    []
    >>> store.dispose()
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Step, StepIntent
from db.records import StepIntentInfo

__all__ = ["list_intents"]


def list_intents(session: Session, campaign_ids: Iterable[int] | None = None) -> list[StepIntentInfo]:
    """Every intent logged (of ``campaign_ids``, or of all campaigns), in wall-clock order."""
    query = (select(StepIntent, Step.idempotency_key).join(Step, StepIntent.step_id == Step.id)
             .order_by(StepIntent.wall_at, StepIntent.id))
    if campaign_ids is not None:
        query = query.where(StepIntent.campaign_id.in_(list(campaign_ids)))
    return [StepIntentInfo(id=row.id, step_id=row.step_id, campaign_id=row.campaign_id, idempotency_key=key,
                           worker=row.worker, instrument=row.instrument, attempt=int(row.attempt), at=row.at,
                           wall_at=row.wall_at)
            for row, key in session.execute(query)]
