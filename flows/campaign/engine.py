"""The asynchronous campaign engine: keep every instrument busy, never wait on one result.

One :class:`CampaignEngine` drives one campaign from the store. Each :meth:`~CampaignEngine.tick`:

1. **polls** every step in flight on its instrument and, for a finished job, stores its raw results
   (the measurement first, then the instrument is released, then the step is marked done, so a
   crash at any point leaves a state the next tick can finish from; :mod:`flows.campaign.dispatch`);
2. **analyses** experiments whose last step finished: phase fractions from the XRD pattern, the
   objectives, the reward (or a chemistry failure);
3. **dispatches** each experiment's next step to a free instrument of its kind, committing the
   intent (with the step's idempotency key) before any byte goes out and the acknowledgement after
   (:class:`~flows.campaign.dispatch.StepDispatcher`);
4. **proposes** new experiments whenever the bottleneck stage has a free slot, with everything in
   flight passed to the policy as pending.

Between ticks the engine waits until the next expected event: on a simulated clock it jumps there
at once; on the wall clock it sleeps. The store is the only memory that matters: a new engine on
the same campaign picks up where a killed one stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import db
from flows.campaign import milestones, pause
from flows.campaign.analysis import analyse_experiment
from flows.campaign.dispatch import StepDispatcher
from flows.campaign.failure import final_status
from flows.campaign.hosting import dispatch_candidates, is_split, send_to_free, step_seconds
from flows.campaign.instrument_health import InstrumentHealth
from flows.campaign.lease import LEASE_S
from flows.errors import MissingInstruments
from instruments.protocol import StepDriver
from lab.clock import Clock, WallClock
from lab.experiment import ExperimentState
from lab.instrument_kind import InstrumentKind
from lab.spec import CampaignSpec
from lab.workflow import plan_steps
from policies.protocol import Policy

__all__ = ["ENDED", "CampaignEngine", "EngineSettings"]

log = logging.getLogger(__name__)
S = ExperimentState
#: Step states that keep an experiment from its analysis: still to send, or in flight.
_UNFINISHED = ("planned", "intent", "acked")
ACTIVE = (S.PROPOSED, S.DISPATCHED, S.RUNNING)
#: What :meth:`CampaignEngine.tick` returns when the engine has nothing more to do on this campaign.
ENDED = ("completed", "cancelled", "failed", "released")
#: Real seconds between looks while a campaign waits for a person (pause, approval).
PEOPLE_NAP_S = 0.5


@dataclass(frozen=True)
class EngineSettings:
    """Knobs of the engine.

    Attributes:
        poll_interval_s: longest wait between polls on the wall clock (seconds).
        deadline_factor: a step's deadline is its expected end plus this fraction of its duration...
        deadline_min_s: ...but at least this many seconds (seconds).
        bottleneck_kind: the instrument kind whose free slots trigger new proposals.
        prefetch: experiments proposed beyond the bottleneck's slots, so it never waits for dosing.
    """

    poll_interval_s: float = 60.0
    deadline_factor: float = 0.5
    deadline_min_s: float = 3600.0
    bottleneck_kind: str = InstrumentKind.FURNACE
    prefetch: int = 1


@dataclass
class CampaignEngine:
    """Runs one campaign against instruments, from and into the store.

    Args:
        store: the open store (:func:`db.open_store`).
        campaign_id: the campaign to run.
        instruments: driver per instrument name (names as in the spec's ``[instruments]``).
        clock: the campaign's clock.
        policy: the proposal policy.
        settings: engine knobs.
        on_event: called with a short text for each thing that happened (progress display).
        worker_id: who holds the campaign (checked against the store on every tick).
        lease_s: a holder whose lease was last renewed longer ago than this (wall-clock seconds) is gone.
        health: which instruments answer (one per worker, shared by its campaigns).
        other_hosts: instruments of the campaign missing from ``instruments`` are held by other hosts,
            which run their steps (:mod:`flows.campaign.hosting`); ``False``: they must all be here.
    """

    store: db.Store
    campaign_id: int
    instruments: Mapping[str, StepDriver]
    clock: Clock
    policy: Policy
    settings: EngineSettings = field(default_factory=EngineSettings)
    on_event: Callable[[str], None] = lambda text: None
    worker_id: str = "engine"
    lease_s: float = LEASE_S
    health: InstrumentHealth = field(default_factory=InstrumentHealth)
    other_hosts: bool = False
    _lease_clock: WallClock = field(default_factory=WallClock, init=False)
    _waiting_for_people: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        with self.store.session() as s:
            info = db.get_campaign(s, self.campaign_id)
        self.spec = CampaignSpec.from_store_dict(info.spec)
        roles = self.spec.instruments
        self.kinds: dict[str, list[str]] = {str(k): names for k, names in roles.by_kind().items()}
        missing = [n for names in self.kinds.values() for n in names if n not in self.instruments]
        if missing and not (self.other_hosts and is_split(self.kinds, self.instruments)):
            raise MissingInstruments(f"campaign {self.campaign_id} needs instruments {missing}, which are not connected "
                             f"(connected: {sorted(self.instruments)})")
        self.local = {k: [n for n in names if n in self.instruments] for k, names in self.kinds.items()}
        self.dispatcher = StepDispatcher(self.store, self.campaign_id, self.instruments, self.clock,
                                         self.settings.deadline_factor, self.settings.deadline_min_s, self.on_event,
                                         self.health, worker_id=self.worker_id)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False) -> str:
        """Tick until the campaign completes or is cancelled, or ``should_stop()``; returns its status.

        Returns ``"released"`` when another worker holds the campaign.
        """
        with self.store.session() as s:
            if db.get_campaign(s, self.campaign_id).status == "queued":
                db.set_campaign_status(s, self.campaign_id, "running", self.clock.now())
        while True:
            status = self.tick()
            if status in ENDED or should_stop():
                return status
            self.wait()

    def tick(self) -> str:
        """One pass: poll, analyse, dispatch, propose, dispatch. Returns the campaign status.

        ``running``: everything. ``paused``: results are still collected; only a deferred pause's started experiments go on.
        ``cancelled``: unstarted experiments are cancelled; started ones finish and are recorded
        (the tick says ``cancelling`` until they have).
        """
        status = self._status()
        if status == "failed":
            return status
        if status == "running" and not self._hold():
            return "released"
        self._waiting_for_people = status == "paused"
        self._poll()
        if status == "running":
            self._dispatch()
            self._propose()
            self._dispatch()
        elif status == "paused" and pause.paused_mode(self.store, self.campaign_id) == "deferred":
            self._dispatch("deferred")  # started experiments finish their steps
        elif status == "cancelled":
            self._cancel_unstarted()
            self._dispatch()
        if status in ("running", "cancelled") and self._finished(status):
            final, reason = ("cancelled", None) if status == "cancelled" else final_status(self.store, self.campaign_id)
            with self.store.session() as s:
                if db.get_campaign(s, self.campaign_id).finished_at is None:
                    db.set_campaign_status(s, self.campaign_id, final, self.clock.now())
                    milestones.campaign_ended(s, self.campaign_id, final, self.clock.now())
                    if reason is not None:
                        db.log_event(s, self.clock.now(), "error", "campaign_failed", reason, campaign_id=self.campaign_id)
            if reason is not None:
                self.on_event(f"campaign {self.campaign_id} failed: {reason}")
            return final
        return "cancelling" if status == "cancelled" else status

    def _hold(self) -> bool:
        with self.store.session() as s:
            return db.hold_campaign(s, self.campaign_id, self.worker_id, self._lease_clock.now(), self.lease_s)

    @property
    def waiting_for_people(self) -> bool:
        """True when, at the last tick, only a person could move the campaign on (pause, approval)."""
        return self._waiting_for_people

    def next_due(self) -> datetime | None:
        """When the next step in flight is expected to end (None when nothing is in flight)."""
        return min(self.dispatcher.due.values(), default=None)

    def _status(self) -> str:
        with self.store.session() as s:
            return db.get_campaign(s, self.campaign_id).status

    def wait(self) -> None:
        """Wait until the next expected event (a jump on a simulated clock, a sleep on the wall clock).

        While only people can move the campaign on (paused, or a batch awaiting approval) and
        nothing is in flight, a simulated clock stands still and the engine naps in real time.
        """
        now = self.clock.now()
        due = self.next_due()
        if due is None and self._waiting_for_people:
            time.sleep(PEOPLE_NAP_S)
            return
        cap = now + timedelta(seconds=self.settings.poll_interval_s)
        target = cap if due is None else (due if self.clock.simulated else min(due, cap))
        self.clock.sleep(max((target - now).total_seconds(), 1.0))

    def _finished(self, status: str) -> bool:
        with self.store.session() as s:
            active = db.list_experiments(s, self.campaign_id, states=list(ACTIVE))
        if active:
            return False
        return status == "cancelled" or not self._may_propose()

    # -- polling and analysis ----------------------------------------------------------------------
    def _poll(self) -> None:
        self.dispatcher.poll()
        self._analyse_ready()

    def _analyse_ready(self) -> None:
        with self.store.session() as s:  # two queries, whatever the number of experiments running
            running = db.list_experiments(s, self.campaign_id, states=[S.RUNNING])
            steps = db.steps_of(s, [e.id for e in running]) if running else {}
        ready = [e for e in running if not any(st.state in _UNFINISHED for st in steps.get(e.id, []))]
        for exp in ready:
            with self.store.session() as s:
                outcome = analyse_experiment(s, self.spec, exp.id, self.clock.now())
                milestones.experiment_finished(s, self.spec, exp.id, self.clock.now())
            self.on_event(outcome)

    # -- dispatch -------------------------------------------------------------------------------------
    def _dispatch(self, pause_mode: str | None = None) -> None:
        with self.store.session() as s:
            busy = set(db.busy_instruments(s))
            candidates, held = dispatch_candidates(s, self.campaign_id, self.spec.approval_required, pause_mode)
        self._waiting_for_people |= held
        send_to_free(self.dispatcher, candidates, self.local, busy, self.health)  # other hosts send the rest

    # -- proposals ------------------------------------------------------------------------------------
    def _may_propose(self) -> bool:
        with self.store.session() as s:
            info = db.get_campaign(s, self.campaign_id)
            state = db.load_state(s, self.campaign_id, now=self.clock.now())
        if state.budget_remaining is not None and state.budget_remaining <= 0:
            return False
        hours = self.spec.budget.hours
        if hours is not None and info.started_at is not None:
            return self.clock.now() < info.started_at + timedelta(hours=hours)
        return True

    def _slots(self) -> int:
        """Free places before the bottleneck stage (plus prefetch)."""
        kind = self.settings.bottleneck_kind
        with self.store.session() as s:
            active = [exp.id for exp in db.list_experiments(s, self.campaign_id, states=list(ACTIVE))]
            waiting = sum(any(st.instrument_kind == kind and st.state in _UNFINISHED for st in steps)
                          for steps in db.steps_of(s, active).values())
        return len(self.kinds[kind]) + self.settings.prefetch - waiting

    def _propose(self) -> None:
        slots = self._slots()
        if slots <= 0 or not self._may_propose():
            return
        now = self.clock.now()
        with self.store.session() as s:
            state = db.load_state(s, self.campaign_id, now=now)
        n = min(slots, self.spec.batch_size, state.budget_remaining if state.budget_remaining is not None else slots)
        proposals = self.policy.propose(state, n)
        if not proposals:
            return
        plans = [plan_steps(p.params, self.spec.workflow) for p in proposals]
        # the batch's expected end: its longest experiment run back to back, without queueing
        work_s = max(sum(step_seconds(self.instruments, self.kinds[st.instrument_kind], st.instrument_kind, st.command)
                         for st in plan) for plan in plans)
        expected = now + timedelta(seconds=work_s)
        deadline = expected + timedelta(seconds=max(self.settings.deadline_min_s, work_s))
        with self.store.session() as s:
            ids = db.record_decision(s, self.campaign_id, proposals,
                                     pending_ids=[p.experiment_id for p in state.pending if p.experiment_id is not None],
                                     made_at=now, expected_completion=expected, deadline=deadline)
            for exp_id, planned in zip(ids, plans):
                db.plan_steps(s, exp_id, [(p.name, p.instrument_kind, dict(p.command)) for p in planned], now)
            milestones.decision_made(s, self.campaign_id, ids, self.spec.approval_required, now)
        self.on_event(f"{self.policy.name} proposed {len(ids)} experiment(s)")

    def _cancel_unstarted(self) -> None:
        now = self.clock.now()
        with self.store.session() as s:
            for exp in db.list_experiments(s, self.campaign_id, states=[S.PROPOSED]):
                db.transition(s, exp.id, S.CANCELLED, now, reason="campaign cancelled before dispatch")
