"""Instrument steps and exactly-once dispatch.

An experiment runs as a plan of steps (dose, anneal, xrd...), one row each. A step's states::

    planned -> intent -> acked -> done
                 |  \\       \\
                 |   +-------+--> failed | lost
                 +--> planned   (release: the instrument confirms it never received the command)

Exactly-once dispatch (ARCHITECTURE.md, The life of one experiment, step 5): the caller commits :func:`claim_step_intent` (state
``intent``, instrument chosen, idempotency key fixed) *before* any byte goes to the instrument, and
commits :func:`ack_step` after the instrument acknowledges. After a restart, :func:`open_steps` lists
every step in ``intent``/``acked``: ask its instrument about its idempotency key, then ``ack``,
``finish``, ``release`` or ``fail`` it; none is sent twice and none is forgotten.

Claiming an intent on an instrument that already holds a step in flight raises
:class:`db.errors.InstrumentClaimed` (instruments are shared across campaigns; the check and the claim are
one atomic section on both engines). Pass ``exclusive=False`` for instruments with several slots.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db.errors import DuplicateDispatch, InstrumentClaimed, InvalidTransition, StepNotFound
from db.experiments import experiment_row
from db.locking import lock_for_write
from db.models import Experiment, Step, StepIntent
from db.records import StepInfo
from db.types import aware_utc, json_dumps, maybe_utc

__all__ = [
    "ABANDONING", "ack_step", "busy_instruments", "claim_step_intent", "fail_step", "finish_step", "get_step", "list_steps",
    "mark_abandoning", "next_planned_step", "open_steps", "plan_steps", "release_step", "step_history",
]

#: Prefix of a step's ``error`` while its job is being aborted (see :func:`mark_abandoning`).
ABANDONING = "abandoning: "

_IN_FLIGHT = ("intent", "acked")


def step_info(row: Step, campaign_id: int, sample_id: str | None) -> StepInfo:
    """The public view of a step row (inside :mod:`db` only)."""
    return StepInfo(
        id=row.id, experiment_id=row.experiment_id, campaign_id=campaign_id, sample_id=sample_id or "", seq=row.seq,
        name=row.name, instrument_kind=row.instrument_kind, instrument=row.instrument, command=copy.deepcopy(row.command),
        idempotency_key=row.idempotency_key, state=row.state, planned_at=row.planned_at, intent_at=row.intent_at,
        acked_at=row.acked_at, done_at=row.done_at, failed_at=row.failed_at, expected_done_at=row.expected_done_at,
        deadline=row.deadline, attempts=row.attempts, error=row.error, claimed_by=row.claimed_by,
    )


def step_query() -> Select[Step, int, str | None]:
    """Steps with their campaign id and sample id (inside :mod:`db` only)."""
    return (select(Step, Experiment.campaign_id, Experiment.sample_id)
            .join(Experiment, Step.experiment_id == Experiment.id).execution_options(populate_existing=True))


def _infos(session: Session, query: Select[Step, int, str | None]) -> list[StepInfo]:
    return [step_info(s, c, sid) for s, c, sid in session.execute(query)]


def get_step(session: Session, step_id: int) -> StepInfo:
    """The step with this id.

    Raises:
        StepNotFound: no step has this id.
    """
    found = _infos(session, step_query().where(Step.id == step_id))
    if not found:
        raise StepNotFound(step_id)
    return found[0]


def _row(session: Session, step_id: int) -> Step:
    row = session.scalars(select(Step).where(Step.id == step_id).with_for_update()
                          .execution_options(populate_existing=True)).first()
    if row is None:
        raise StepNotFound(step_id)
    return row


def _campaign_of(session: Session, row: Step) -> int:
    return int(session.scalars(select(Experiment.campaign_id).where(Experiment.id == row.experiment_id)).one())


def _refuse(row: Step, action: str, allowed_from: Sequence[str]) -> None:
    if row.state not in allowed_from:
        raise InvalidTransition(f"step {row.id} ({row.idempotency_key}) is {row.state}: cannot {action} it "
                                f"(only from {', '.join(allowed_from)})")


def plan_steps(session: Session, experiment_id: int, steps: Sequence[tuple[str, str, dict[str, Any]]],
               at: datetime) -> list[StepInfo]:
    """Plan an experiment's steps ``(name, instrument_kind, command)``, numbered 0, 1, 2...

    Idempotent: planning the same steps again returns the existing rows. Idempotency keys are
    ``<sample_id>:<seq>:<name>``.

    Raises:
        ExperimentNotFound: no experiment has this id.
        DuplicateDispatch: a step with this key exists with a different name, kind or command.
    """
    at = aware_utc(at)
    experiment = experiment_row(session, experiment_id)
    existing = {s.seq: s for s in session.scalars(select(Step).where(Step.experiment_id == experiment_id))}
    for seq, (name, kind, raw_command) in enumerate(steps):
        key = f"{experiment.sample_id}:{seq}:{name}"
        command = json.loads(json_dumps(dict(raw_command)))  # as it will read back (tuples become lists)
        old = existing.get(seq)
        if old is None:
            session.add(Step(experiment_id=experiment_id, seq=seq, name=name, instrument_kind=kind, instrument=None,
                             command=command, idempotency_key=key, state="planned", planned_at=at, attempts=0))
        elif (old.name, old.instrument_kind, old.command) != (name, kind, command):
            raise DuplicateDispatch(f"step {old.idempotency_key} is already planned as {old.name} on a {old.instrument_kind} "
                                    f"with {old.command}; refusing to reuse its key for {name} on a {kind} with {command}")
    session.flush()
    return list_steps(session, experiment_id)[: len(steps)]


def list_steps(session: Session, experiment_id: int) -> list[StepInfo]:
    """The experiment's steps in plan order."""
    return _infos(session, step_query().where(Step.experiment_id == experiment_id).order_by(Step.seq))


def claim_step_intent(session: Session, step_id: int, instrument: str, at: datetime, expected_done_at: datetime | None,
                      deadline: datetime | None, *, exclusive: bool = True, worker: str | None = None,
                      wall_at: datetime | None = None) -> StepInfo:
    """Record the intent to send a step to ``instrument``; commit it before sending any byte.

    A step already in ``intent`` on the same instrument may be claimed again (a retry after an
    infrastructure error; ``attempts`` counts them; the command is safe to repeat with its key).
    Every claim is also logged in ``step_intents`` with ``worker`` (the sender's worker name, kept
    in ``claimed_by`` too) and ``wall_at`` (now on the wall clock; default ``at``, for callers
    whose campaign clock is the wall clock): :func:`db.intents.list_intents`.

    Raises:
        StepNotFound: no step has this id.
        InvalidTransition: the step is not ``planned`` (or in ``intent`` on this instrument).
        InstrumentClaimed: ``exclusive`` and another step is in flight on ``instrument``.
    """
    at = aware_utc(at)
    expected_done_at = maybe_utc(expected_done_at, "expected_done_at")
    deadline = maybe_utc(deadline, "deadline")
    if exclusive:
        lock_for_write(session, f"instrument:{instrument}")
    row = _row(session, step_id)
    _refuse(row, "claim an intent for", ("planned", "intent"))
    if row.state == "intent" and row.instrument != instrument:
        raise InvalidTransition(f"step {row.id} ({row.idempotency_key}) is already intended for {row.instrument}; "
                                f"release it before sending it to {instrument}")
    if exclusive:
        holder = session.scalars(select(Step).where(Step.instrument == instrument, Step.state.in_(_IN_FLIGHT),
                                                    Step.id != step_id).limit(1)).first()
        if holder is not None:
            raise InstrumentClaimed(f"{instrument} is busy with step {holder.idempotency_key} ({holder.state}); "
                                 f"step {row.idempotency_key} must wait")
    row.state, row.instrument, row.intent_at = "intent", instrument, at
    row.expected_done_at, row.deadline = expected_done_at, deadline
    row.attempts += 1
    row.claimed_by = worker
    session.add(StepIntent(step_id=row.id, campaign_id=_campaign_of(session, row),
                           worker=worker, instrument=instrument, attempt=row.attempts, at=at,
                           wall_at=at if wall_at is None else aware_utc(wall_at)))
    session.flush()
    return get_step(session, step_id)


def ack_step(session: Session, step_id: int, at: datetime) -> StepInfo:
    """The instrument acknowledged the command (idempotent for an acked step)."""
    at = aware_utc(at)
    row = _row(session, step_id)
    if row.state != "acked":
        _refuse(row, "acknowledge", ("intent",))
        row.state, row.acked_at = "acked", at
        session.flush()
    return get_step(session, step_id)


def finish_step(session: Session, step_id: int, at: datetime) -> StepInfo:
    """The step completed on its instrument (from ``acked``, or ``intent`` when found done on reconciliation)."""
    at = aware_utc(at)
    row = _row(session, step_id)
    _refuse(row, "finish", _IN_FLIGHT)
    if row.acked_at is None:
        row.acked_at = at
    row.state, row.done_at = "done", at
    session.flush()
    return get_step(session, step_id)


def fail_step(session: Session, step_id: int, at: datetime, error: str, lost: bool = False) -> StepInfo:
    """The step failed (or, with ``lost``, its deadline passed and its instrument cannot account for it).

    A ``planned`` step may be failed (never run because its experiment ended), but not lost.
    """
    at = aware_utc(at)
    row = _row(session, step_id)
    _refuse(row, "mark lost" if lost else "fail", _IN_FLIGHT if lost else ("planned", *_IN_FLIGHT))
    row.state, row.failed_at, row.error = ("lost" if lost else "failed"), at, error
    session.flush()
    return get_step(session, step_id)


def mark_abandoning(session: Session, step_id: int, at: datetime, reason: str) -> StepInfo:
    """Record, before aborting its job, that a step in flight is being given up (``error`` = ``ABANDONING + reason``).

    Should the process die between the abort and the loss, the next poll finds the mark and loses
    the step instead of taking the aborted job's partial results for a finished one.
    """
    aware_utc(at)
    row = _row(session, step_id)
    _refuse(row, "abandon", _IN_FLIGHT)
    row.error = ABANDONING + reason
    session.flush()
    return get_step(session, step_id)


def release_step(session: Session, step_id: int, at: datetime, error: str) -> StepInfo:
    """Return an ``intent`` step to ``planned``: its instrument confirms it never received the command.

    The instrument is freed and the step may be claimed again (on any instrument); ``error`` says why.
    """
    aware_utc(at)
    row = _row(session, step_id)
    _refuse(row, "release", ("intent",))
    row.state, row.instrument, row.intent_at, row.error = "planned", None, None, error
    row.expected_done_at = row.deadline = None
    session.flush()
    return get_step(session, step_id)


def open_steps(session: Session, campaign_id: int | None = None) -> list[StepInfo]:
    """Steps in flight (``intent`` or ``acked``), oldest intent first: what to reconcile after a restart."""
    query = step_query().where(Step.state.in_(_IN_FLIGHT)).order_by(Step.intent_at, Step.id)
    if campaign_id is not None:
        query = query.where(Experiment.campaign_id == campaign_id)
    return _infos(session, query)


def next_planned_step(session: Session, experiment_id: int) -> StepInfo | None:
    """The experiment's next step to send: its first ``planned`` step, if every earlier step is ``done``.

    ``None`` when a step is in flight, one failed or was lost, or all are done.
    """
    for step in list_steps(session, experiment_id):
        if step.state == "planned":
            return step
        if step.state != "done":
            return None
    return None


def busy_instruments(session: Session) -> dict[str, StepInfo]:
    """Instrument name -> the step it holds in flight, across all campaigns (oldest intent if several)."""
    busy: dict[str, StepInfo] = {}
    for step in open_steps(session):
        if step.instrument is not None:
            busy.setdefault(step.instrument, step)
    return busy


def step_history(session: Session, campaign_id: int | None = None) -> list[StepInfo]:
    """Every step (of one campaign, or all), in plan order: the raw material of utilisation reports."""
    query = step_query().order_by(Step.planned_at, Step.id)
    if campaign_id is not None:
        query = query.where(Experiment.campaign_id == campaign_id)
    return _infos(session, query)
