"""One campaign across several instrument hosts: each step runs on whichever host holds its instrument.

A lab split across machines runs one ``lab worker --lab-file hostN.toml`` per instrument host,
each lab file naming the instruments wired to that host. **Instrument names are unique across
hosts**: the ledger knows an instrument by its name alone (:func:`db.busy_instruments` is
lab-wide, a step in flight records the name it was claimed on), so two hosts holding a
``furnace-1`` would both poll its steps.

A campaign is **split** for a worker when the worker holds some, but not all, of the instruments
its spec names. Then:

* its claimant's :class:`~flows.campaign.engine.CampaignEngine` decides, analyses and rewards, and
  sends, polls and collects the steps on the claimant's own instruments;
* every other host's :class:`StepHost` sends, polls and collects the campaign's steps on *its*
  instruments: a planned step whose kind it holds goes to one of its free instruments (under the
  same holds as the engine's: approval, pause, cancel; :func:`dispatch_candidates`), and a step in
  flight is polled by the host holding the instrument named on its intent.

Two hosts never send the same step: :func:`db.claim_step_intent` moves it from ``planned`` to
``intent`` under a row lock (``FOR UPDATE`` on PostgreSQL, SQLite's one writer), and a host that
loses the race gets ``InvalidTransition`` and waits for the next round. A host that dies leaves its
steps in ``intent``/``acked``: they wait (nothing else holds their instrument) until it, or a
replacement holding the same instrument names, polls them again and reconciles each exactly as a
single worker does after a restart (resent if never acknowledged, collected if done). A campaign
whose claimant dies is taken over by lease (:func:`db.claim_campaign`). When every worker holds
every instrument (one host, or several workers on one lab file), no campaign is split and the
claimant does everything, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

import db
from flows.campaign import instrument_calls as calls
from flows.campaign import pause
from flows.campaign.dispatch import StepDispatcher
from flows.campaign.instrument_health import InstrumentHealth
from instruments.protocol import StepDriver
from instruments.registry import step_duration_s
from lab.clock import Clock
from lab.spec import CampaignSpec

__all__ = ["SERVED", "StepHost", "dispatch_candidates", "is_split", "may_go", "send_to_free", "step_seconds"]

log = logging.getLogger(__name__)
#: Campaign statuses whose steps a host keeps serving (a cancelled one's started experiments finish).
SERVED = ("running", "paused", "cancelled")
#: Ledger refusals that mean another host got there first: wait for the next round.
_RACES = (db.InstrumentClaimed, db.InvalidTransition, db.ClaimLost)


def is_split(kinds: Mapping[str, list[str]], instruments: Collection[str]) -> bool:
    """Whether a campaign naming ``kinds`` (kind -> instrument names) runs partly on other hosts than ``instruments``."""
    named = {n for names in kinds.values() for n in names}
    return bool(named & set(instruments)) and not named <= set(instruments)


def step_seconds(instruments: Mapping[str, StepDriver], names: list[str], kind: str, command: Mapping[str, Any]) -> float:
    """A step's expected duration (seconds): by a connected instrument of ``names``, else by its kind's driver."""
    local = [n for n in names if n in instruments]
    return calls.expected_duration_s(instruments[local[0]], command) if local else step_duration_s(kind, command)


def dispatch_candidates(s: Session, campaign_id: int, approval_required: bool,
                        pause_mode: str | None) -> tuple[list[db.StepInfo], bool]:
    """The next planned step of each active experiment with nothing in flight that may go out now.

    Args:
        pause_mode: ``None`` while running; ``"deferred"`` for a deferred pause, and for a
            cancelled campaign (only started experiments go on).

    Returns:
        The steps, and whether some experiment waits for a person (approval, pause).
    """
    return may_go(db.ready_steps(s, campaign_ids=[campaign_id]), approval_required, pause_mode)


def may_go(ready: list[db.HostedStep], approval_required: bool, pause_mode: str | None) -> tuple[list[db.StepInfo], bool]:
    """Of ``ready`` (:func:`db.ready_steps`, one campaign's), the steps no hold keeps back (:func:`pause.hold_reason`).

    Returns:
        The steps, and whether some experiment waits for a person (approval, pause).
    """
    candidates: list[db.StepInfo] = []
    held = False
    for r in ready:
        if pause.hold_reason(r.experiment_state, approval_required, pause_mode, partial(bool, r.approved)) is not None:
            held = True
        else:
            candidates.append(r.step)
    return candidates, held


def send_to_free(dispatcher: StepDispatcher, candidates: list[db.StepInfo], names_by_kind: Mapping[str, list[str]],
                 busy: set[str], health: InstrumentHealth) -> None:
    """Claim and send each candidate on the first free, usable instrument of its kind among ``names_by_kind``."""
    for step in candidates:
        free = [n for n in names_by_kind.get(step.instrument_kind, []) if n not in busy and health.usable(n)]
        if free:
            busy.add(free[0])
            dispatcher.claim_and_send(step, free[0])


@dataclass
class _Served:
    """What a host keeps per split campaign: the instruments it serves there, by kind, and its dispatcher."""

    local: dict[str, list[str]]
    dispatcher: StepDispatcher | None


@dataclass
class StepHost:
    """Sends, polls and collects the steps of other workers' split campaigns on this host's instruments.

    Args:
        store: the open store.
        instruments: this host's drivers by instrument name (its lab file's).
        clock: the lab's clock (a lab file's ``[clock]``, shared by every host).
        health: which instruments answer (the worker's, shared with its engines).
        worker_id: this worker's name, logged with every intent it commits.
        deadline_factor, deadline_min_s: as :class:`~flows.campaign.engine.EngineSettings`.
        on_event: called with a short text for each thing that happened.
    """

    store: db.Store
    instruments: Mapping[str, StepDriver]
    clock: Clock
    health: InstrumentHealth
    worker_id: str
    deadline_factor: float = 0.5
    deadline_min_s: float = 3600.0
    on_event: Callable[[str], None] = lambda text: None
    served: dict[int, _Served] = field(default_factory=dict, init=False)

    def round(self, held: Collection[int] = ()) -> None:
        """Poll and dispatch the steps on this host's instruments of every split campaign not in ``held``.

        ``held``: the campaigns this worker's own engines run. A round costs a few ledger queries
        whatever the number of campaigns and experiments (the campaigns served, the spec of any
        not seen before, the steps in flight on this host's instruments, the next planned steps of
        the kinds it serves: :func:`db.steps_in_flight_on`, :func:`db.ready_steps`), then a few per
        step it polls or sends.
        """
        with self.store.session() as s:
            ids = set(db.campaigns_in(s, SERVED)) - set(held)
            for cid in sorted(ids - set(self.served)):
                self._entry(db.get_campaign(s, cid))
            for cid in set(self.served) - ids:
                if (gone := self.served.pop(cid)).dispatcher is not None:
                    gone.dispatcher.due.clear()
            split = {cid for cid in ids if self.served[cid].dispatcher is not None}
            flying = db.steps_in_flight_on(s, list(self.instruments)) if split else []
        polled = False
        for cid in sorted(split):
            dispatcher = self._dispatcher(cid)
            steps = [f.step for f in flying if f.step.campaign_id == cid]
            dispatcher.due = {k: v for k, v in dispatcher.due.items() if k in {st.id for st in steps}}
            polled |= bool(steps)
            self._guarded(cid, partial(dispatcher.poll_steps, steps))
        with self.store.session() as s:
            if polled:
                flying = db.steps_in_flight_on(s, list(self.instruments))  # the polls may have freed some
            busy = {str(f.step.instrument) for f in flying}
            kinds = {k for cid in split for k, names in self.served[cid].local.items()
                     if any(n not in busy and self.health.usable(n) for n in names)}
            if not kinds:
                return  # no instrument here is free: nothing could go out
            ready = db.ready_steps(s, campaign_ids=split, kinds=kinds)
        for cid in sorted({r.step.campaign_id for r in ready}):
            mine = [r for r in ready if r.step.campaign_id == cid]
            status, mode = mine[0].campaign_status, _mode(mine[0].campaign_status, mine[0].pause_mode)
            if status == "paused" and mode != "deferred":
                continue  # paused now: no new step starts
            candidates, _ = may_go(mine, mine[0].approval_required, mode)
            self._guarded(cid, partial(send_to_free, self._dispatcher(cid), candidates, self.served[cid].local,
                                       busy, self.health))

    def next_due(self) -> datetime | None:
        """When the next step this host has in flight is expected to end (None when none is)."""
        return min((d for e in self.served.values() if e.dispatcher is not None for d in e.dispatcher.due.values()),
                   default=None)

    @property
    def serving(self) -> bool:
        """Whether, at the last round, this host served some campaign's steps."""
        return any(e.dispatcher is not None for e in self.served.values())

    def _entry(self, info: db.CampaignInfo) -> _Served:
        if info.id not in self.served:
            kinds = {str(k): names for k, names in CampaignSpec.from_store_dict(info.spec).instruments.by_kind().items()}
            local = {k: [n for n in names if n in self.instruments] for k, names in kinds.items()}
            dispatcher = StepDispatcher(self.store, info.id, self.instruments, self.clock, self.deadline_factor,
                                        self.deadline_min_s, self.on_event, self.health,
                                        worker_id=self.worker_id) if is_split(kinds, self.instruments) else None
            self.served[info.id] = _Served(local, dispatcher)
        return self.served[info.id]

    def _dispatcher(self, cid: int) -> StepDispatcher:
        dispatcher = self.served[cid].dispatcher
        assert dispatcher is not None  # only split campaigns' are asked for
        return dispatcher

    @staticmethod
    def _guarded(cid: int, action: Callable[[], None]) -> None:
        """Run one campaign's polls or sends; a race lost or a failure waits for the next round."""
        try:
            action()
        except _RACES as exc:
            log.info("campaign %s: another host got there first (%s); trying again next round", cid, exc)
        except db.DatabaseUnreachable:
            raise
        except Exception as exc:  # the claimant decides the campaign's fate; this host only says why it could not help
            log.warning("campaign %s: serving its steps failed: %s", cid, exc)


def _mode(status: str, pause_mode: str | None) -> str | None:
    """The pause mode a campaign's holds go by: none while running, deferred once cancelled (started ones finish)."""
    return {"running": None, "cancelled": "deferred"}.get(status, pause_mode)
