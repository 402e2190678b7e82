"""The instrument-facing half of the campaign engine: steps in flight, exactly once.

A :class:`StepDispatcher` belongs to one :class:`~flows.campaign.engine.CampaignEngine`. It
**polls** every step in flight on its instrument and, for a finished job, stores its raw results
(the measurement first, then the instrument is released, then the step is marked done, so a crash
at any point leaves a state the next poll can finish from); it **claims and sends** a step by
committing the intent, with the step's idempotency key and deadline, before any byte goes out, and
the acknowledgement after. A job the device does not know is sent again if it was never
acknowledged, and lost if it was; a refusal for good loses the experiment at once. A job past
its deadline (stuck) is aborted and its instrument released before the experiment is lost, and a
job the device reports aborted is released and lost, so that no device is left holding a job
the ledger has given up on; should the abort or the release fail, the next poll tries again.
A device found holding a job that no step in flight owns when a step is sent to it (a failed
campaign's job on another host's furnace, which its claimant could not reach) is aborted and
released first, with an event, so that one campaign's end never blocks an instrument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import db
from flows.campaign import instrument_calls as calls
from flows.campaign.instrument_health import UNREACHABLE, InstrumentHealth
from flows.errors import FlowError
from instruments.errors import (
    CommandError,
    DeviceLimitError,
    InstrumentBusy,
    InstrumentError,
    JobConflict,
    LimitViolation,
    PortUnavailable,
)
from instruments.protocol import StepDriver
from lab.clock import Clock, WallClock
from lab.experiment import ExperimentState

__all__ = ["REFUSED_FOR_GOOD", "StepDispatcher"]

S = ExperimentState
#: Refusals of the command itself: sending it again, now or after a restart, can never succeed.
REFUSED_FOR_GOOD = (LimitViolation, DeviceLimitError, CommandError, JobConflict)


@dataclass
class StepDispatcher:
    """Polls, sends and reconciles one campaign's instrument steps.

    Args:
        store: the open store.
        campaign_id: the campaign whose steps these are.
        instruments: driver per instrument name.
        clock: the campaign's clock.
        deadline_factor: a step's deadline is its expected end plus this fraction of its duration...
        deadline_min_s: ...but at least this many seconds (seconds).
        on_event: called with a short text for each thing that happened.
        health: which instruments answer (shared by the campaigns of one worker); a down one's steps wait.
        worker_id: the worker name logged with every intent (with the wall clock: :func:`db.list_intents`).
    """

    store: db.Store
    campaign_id: int
    instruments: Mapping[str, StepDriver]
    clock: Clock
    deadline_factor: float
    deadline_min_s: float
    on_event: Callable[[str], None] = lambda text: None
    health: InstrumentHealth = field(default_factory=InstrumentHealth)
    worker_id: str | None = None
    due: dict[int, datetime] = field(default_factory=dict, init=False)
    _wall: WallClock = field(default_factory=WallClock, init=False)

    def poll(self) -> None:
        """Poll every step in flight on these instruments; store finished jobs' results, resend unknown intents, lose the hopeless.

        A step in flight on an instrument not among ``instruments`` is another host's to poll
        (:mod:`flows.campaign.hosting`).
        """
        with self.store.session() as s:
            steps = [st for st in db.open_steps(s, self.campaign_id) if st.instrument is None or st.instrument in self.instruments]
        self.poll_steps(steps)

    def poll_steps(self, steps: list[db.StepInfo]) -> None:
        """Poll these steps in flight of this campaign, each on its instrument (:meth:`poll` without the query)."""
        for step in steps:
            name = _held_by(step)
            if not self.health.usable(name):
                continue  # down: its steps wait for the back-off
            try:
                self._poll_step(step)
            except UNREACHABLE as exc:
                self._unreachable(name, exc)
            except InstrumentError as exc:
                self._event("warning", "poll_failed", f"{step.instrument}: polling {step.idempotency_key} failed: {exc}")
            else:
                self._answered(name)

    def _unreachable(self, name: str, exc: InstrumentError) -> None:
        line = self.health.failed(name, exc)
        if line is not None:
            self._event("warning", "instrument_unreachable", line)

    def _answered(self, name: str) -> None:
        line = self.health.answered(name)
        if line is not None:
            self._event("info", "instrument_recovered", line)

    def _poll_step(self, step: db.StepInfo) -> None:
        now = self.clock.now()
        inst = self.instruments[_held_by(step)]
        st = calls.job_status(inst, step.idempotency_key)
        if st.state == "busy":
            self.due[step.id] = now + timedelta(seconds=max(st.seconds_left or 0.0, 1.0))
            if step.state == "intent":
                self._ack(step, now)
            self._check_deadline(step, inst, now, st.state)
        elif st.state in ("done", "unloaded") and (step.error or "").startswith(db.ABANDONING):
            calls.release(inst, step.idempotency_key)  # aborted before a crash: its partial results are not a result
            self._lose(step, now, (step.error or "")[len(db.ABANDONING):])
        elif st.state in ("done", "unloaded"):
            self._ingest(step, inst, now)
        elif st.state == "aborted":  # no result: a deadline's abort whose release failed, or aborted on the device
            late = step.deadline is not None and now > step.deadline
            self._give_up(step, inst, now, f"{step.instrument} reports {step.idempotency_key} aborted"
                                           + (f" after its deadline {step.deadline:%Y-%m-%d %H:%M}" if late else ""))
        elif st.state == "unknown":
            self._resend_or_lose(step, inst, now)
        else:  # error
            self._check_deadline(step, inst, now, st.state)

    def _ingest(self, step: db.StepInfo, inst: StepDriver, now: datetime) -> None:
        with self.store.session() as s:
            have = {m.name for m in db.load_measurements(s, step.experiment_id)}
        results = [] if {r.name for r in inst.results} <= have else \
            [m for m in calls.collect(inst, step.idempotency_key) if m.name not in have]
        with self.store.session() as s:
            for m in results:
                db.store_measurement(s, step.experiment_id, m, now, step_id=step.id)
        calls.release(inst, step.idempotency_key)
        with self.store.session() as s:
            if step.state == "intent":
                db.ack_step(s, step.id, now)
            db.finish_step(s, step.id, now)
            self._mark_running(s, step.experiment_id, now)
        self.due.pop(step.id, None)
        self.on_event(f"{step.instrument} finished {step.name} of {step.idempotency_key.split(':')[0]}")

    def _resend_or_lose(self, step: db.StepInfo, inst: StepDriver, now: datetime) -> None:
        """The device has no record of this job.

        Never acknowledged: the intent was committed but the command never arrived (a crash or a
        dropped link in between), so sending it now cannot start it twice: claim it again with a
        fresh deadline and send. Acknowledged: the device lost a job it had started (a power cut,
        a reset), so the experiment is lost.
        """
        if step.state == "intent":
            self.claim_and_send(step, _held_by(step))
            return
        self._lose(step, now, f"{step.instrument} has no record of {step.idempotency_key}, which it had acknowledged")

    def _check_deadline(self, step: db.StepInfo, inst: StepDriver, now: datetime, device_state: str) -> None:
        if step.deadline is not None and now > step.deadline:
            self._give_up(step, inst, now, f"deadline {step.deadline:%Y-%m-%d %H:%M} passed; "
                                           f"{step.instrument} reports {device_state}; job aborted")

    def _give_up(self, step: db.StepInfo, inst: StepDriver, now: datetime, reason: str) -> None:
        """Abort the step's job and release the instrument, then lose the experiment with ``reason``.

        The job must be the device's current one (it reported it busy or aborted). An instrument
        error in the abort or the release propagates (:meth:`poll` logs it) and leaves the step in
        flight, so the next poll tries again rather than leave the device holding a dead job.
        """
        if not (step.error or "").startswith(db.ABANDONING):
            with self.store.session() as s:
                step = db.mark_abandoning(s, step.id, now, reason)  # a crash from here on still loses it
        calls.call(inst.abort)
        calls.release(inst, step.idempotency_key)
        self._lose(step, now, reason)

    def _lose(self, step: db.StepInfo, now: datetime, reason: str) -> None:
        with self.store.session() as s:
            db.fail_step(s, step.id, now, reason, lost=True)
            db.transition(s, step.experiment_id, S.LOST, now, reason=reason)
            db.log_event(s, now, "warning", "experiment_lost", reason, campaign_id=self.campaign_id,
                         detail={"experiment_id": step.experiment_id})
        self.due.pop(step.id, None)
        self.on_event(f"lost {step.idempotency_key}: {reason}")

    def claim_and_send(self, step: db.StepInfo, name: str) -> None:
        """Commit the intent of ``step`` on instrument ``name`` (with its deadline), then send it."""
        now = self.clock.now()
        inst = self.instruments[name]
        expected = calls.expected_duration_s(inst, step.command)
        grace = max(self.deadline_min_s, self.deadline_factor * expected)
        done_at = now + timedelta(seconds=expected)
        try:
            with self.store.session() as s:
                step = db.claim_step_intent(s, step.id, name, now, done_at, done_at + timedelta(seconds=grace),
                                            worker=self.worker_id, wall_at=self._wall.now())
                exp = db.get_experiment(s, step.experiment_id)
                if exp.state == S.PROPOSED:
                    db.transition(s, exp.id, S.DISPATCHED, now)
        except (db.InstrumentClaimed, db.InvalidTransition):
            return  # another worker got there first (the instrument, or the step itself): wait for the next tick
        self._send(step, inst)

    def _send(self, step: db.StepInfo, inst: StepDriver, cleared: bool = False) -> None:
        """Send the step's command; the intent is already committed (``cleared``: an orphan was just cleared)."""
        now = self.clock.now()
        with self.store.session() as s:
            sample_id = db.get_experiment(s, step.experiment_id).sample_id
        try:
            calls.start(inst, step.idempotency_key, sample_id, step.command)
        except REFUSED_FOR_GOOD as exc:
            self._lose(step, self.clock.now(), f"{inst.name} refused {step.idempotency_key}: {exc}")
            return  # re-claiming and resending it would loop for ever (see _resend_or_lose)
        except PortUnavailable as exc:  # the port never opened, so no byte went out: another instrument may take it
            self._unreachable(inst.name, exc)
            with self.store.session() as s:
                db.release_step(s, step.id, self.clock.now(), f"{inst.name} cannot be reached: {exc}")
            return
        except UNREACHABLE as exc:
            self._unreachable(inst.name, exc)
            return  # the intent stays; once the instrument answers, the next poll finds the job unknown and sends it
        except InstrumentError as exc:
            if isinstance(exc, InstrumentBusy) and not cleared and self._cleared_orphan(inst, step):
                self._send(step, inst, cleared=True)
                return
            self._event("warning", "dispatch_failed", f"{inst.name}: sending {step.idempotency_key} failed: {exc}")
            return  # the intent stays; the next poll finds the job unknown and claims and sends it again
        self._answered(inst.name)
        self._ack(step, now)
        if step.expected_done_at is not None:
            self.due[step.id] = step.expected_done_at
        self.on_event(f"{inst.name} started {step.name} of {sample_id}")

    def _cleared_orphan(self, inst: StepDriver, step: db.StepInfo) -> bool:
        """Abort and release the job ``inst`` holds if no step in flight owns it; whether it did.

        The intent just committed on ``inst`` is the ledger's only step in flight there, so any
        other job the device holds is an orphan: a failed campaign's, whose claimant runs on a
        host without this instrument (:func:`~flows.campaign.failure.fail_campaign` could only
        lose it in the ledger), or one the ledger has otherwise ended.
        """
        held = calls.call(inst.status)
        if not held.holds_job or held.job_key in (None, step.idempotency_key):
            return False
        with self.store.session() as s:
            if any(st.idempotency_key == held.job_key for st in db.open_steps(s)):
                return False  # owned after all: leave it to its poll
        if held.state == "busy":
            calls.call(inst.abort)
        calls.release(inst, str(held.job_key))
        self._event("warning", "orphan_job_cleared", f"{inst.name} held {held.job_key} ({held.state}), which no step "
                                                     f"in flight owns; aborted and released it before {step.idempotency_key}")
        return True

    def _ack(self, step: db.StepInfo, now: datetime) -> None:
        with self.store.session() as s:
            db.ack_step(s, step.id, now)
            self._mark_running(s, step.experiment_id, now)

    @staticmethod
    def _mark_running(s: Session, experiment_id: int, now: datetime) -> None:
        if db.get_experiment(s, experiment_id).state == S.DISPATCHED:
            db.transition(s, experiment_id, S.RUNNING, now)

    def _event(self, level: str, kind: str, message: str) -> None:
        with self.store.session() as s:
            db.log_event(s, self.clock.now(), level, kind, message, campaign_id=self.campaign_id)
        self.on_event(message)


def _held_by(step: db.StepInfo) -> str:
    """The instrument a step in flight was claimed on (the ledger sets it with the intent)."""
    if step.instrument is None:
        raise FlowError(f"step {step.idempotency_key} is {step.state} but names no instrument; the ledger is inconsistent")
    return step.instrument
