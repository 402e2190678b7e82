"""``lab worker``: run queued campaigns unattended, several at once on one shared lab.

The worker claims queued campaigns from the store (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several workers never claim the same one), up to ``max_campaigns`` at a time, and ticks their
engines in turn on one set of instruments. Instruments are shared through the ledger: a step is
only dispatched to an instrument no other step holds, whichever campaign it belongs to, so the
furnaces act as slots and the diffractometer as a queue. Between rounds the worker waits for the
earliest expected event of any campaign. Everything it knows is in the store; a killed worker is
simply started again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from prefect import flow

import db
from flows.campaign import instrument_calls, shutdown
from flows.campaign.engine import PEOPLE_NAP_S, CampaignEngine, EngineSettings
from flows.campaign.policy_source import build_policy
from flows.campaign.runtime import Rig, hardware_rig, simulated_rig
from flows.errors import MissingInstruments
from lab.clock import WallClock
from lab.spec import CampaignSpec, InstrumentsSpec

__all__ = ["Worker", "worker_flow"]

#: Real seconds between looks at an empty queue.
IDLE_NAP_S = 2.0


@dataclass
class Worker:
    """Claims and runs campaigns on one rig.

    Args:
        store: the open store.
        rig: the instruments and clock shared by every campaign.
        worker_id: this worker's name in the store (host:pid).
        max_campaigns: most campaigns run side by side.
    """

    store: db.Store
    rig: Rig
    worker_id: str
    max_campaigns: int = 4
    engines: dict[int, CampaignEngine] = field(default_factory=dict)
    finished: list[tuple[int, str]] = field(default_factory=list)

    def claim(self) -> None:
        """Take queued campaigns until ``max_campaigns`` run."""
        while len(self.engines) < self.max_campaigns:
            with self.store.session() as s:
                info = db.claim_campaign(s, self.worker_id, self.rig.clock.now())
            if info is None:
                return
            try:
                self.engines[info.id] = self._engine(info)
            except MissingInstruments as exc:  # this lab cannot run it: say so, and do not block the queue
                now = self.rig.clock.now()
                with self.store.session() as s:
                    db.set_campaign_status(s, info.id, "failed", now)
                    db.log_event(s, now, "error", "missing_instruments", str(exc), campaign_id=info.id)
                self.finished.append((info.id, "failed"))

    def _engine(self, info: db.CampaignInfo) -> CampaignEngine:
        spec = CampaignSpec.from_store_dict(info.spec)
        settings = EngineSettings(poll_interval_s=3600.0 if self.rig.simulated else 60.0)
        return CampaignEngine(self.store, info.id, self.rig.instruments, self.rig.clock,
                              build_policy(spec.policy.name, spec.policy.options, self.store), settings, worker_id=self.worker_id)

    def round(self) -> None:
        """One tick of every campaign held; drop those that ended or were taken over."""
        for cid, engine in list(self.engines.items()):
            status = engine.tick()
            if status in ("completed", "cancelled", "released"):
                del self.engines[cid]
                self.finished.append((cid, status))

    def wait(self) -> None:
        """Wait for the earliest expected event of any campaign (or nap when nothing can happen)."""
        clock = self.rig.clock
        dues = [d for d in (e.next_due() for e in self.engines.values()) if d is not None]
        if not self.engines:
            time.sleep(IDLE_NAP_S)
            return
        if not dues and all(e.waiting_for_people for e in self.engines.values()):
            time.sleep(PEOPLE_NAP_S)
            return
        now = clock.now()
        cap = now + timedelta(seconds=3600.0 if clock.simulated else 60.0)
        target = min(dues + [cap]) if dues else cap
        clock.sleep(max((target - now).total_seconds(), 1.0))

    def run(self, once: bool = False) -> list[tuple[int, str]]:
        """Claim, tick and wait until a stop is requested (or, with ``once``, the queue is empty)."""
        while not shutdown.stop_requested():
            self.claim()
            if once and not self.engines:
                break
            self.round()
            self.wait()
        return self.finished


@flow(name="worker", log_prints=False, validate_parameters=False)
def worker_flow(worker_id: str, database_url: str | None = None, lab_file: str | None = None,
                max_campaigns: int = 4, once: bool = False) -> list[tuple[int, str]]:
    """Run queued campaigns until stopped; returns (campaign id, final status) of those it ended."""
    store = db.open_store(database_url)
    try:
        if lab_file:
            rig_cm = hardware_rig(lab_file)
        else:
            instrument_calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]
            rig_cm = simulated_rig(InstrumentsSpec(), seed=0, start=WallClock().now())
        with rig_cm as rig:
            return Worker(store, rig, worker_id, max_campaigns).run(once=once)
    finally:
        store.dispose()
