"""``lab worker``: run queued campaigns unattended, several at once on one shared lab.

The worker holds a name under a lease on the wall clock (:class:`~flows.campaign.lease.WorkerLease`)
and claims queued campaigns from the store under it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several workers never claim the same one), up to ``max_campaigns`` at a time: first those already
claimed under its own name (a restart takes them back at once), then, oldest first, queued ones and
those whose worker's lease lapsed. It ticks their engines in turn on one set of instruments. Instruments are
shared through the ledger: a step is only dispatched to an instrument no other step holds,
whichever campaign it belongs to, so the furnaces act as slots and the diffractometer as a queue.

**A lab across hosts.** A worker on a lab file serves the instruments the file names. A campaign
naming instruments of other hosts runs there too: its engine leaves their steps planned, and a
:class:`~flows.campaign.hosting.StepHost` on every worker sends, polls and collects the steps of
other workers' campaigns on its own instruments (:mod:`flows.campaign.hosting`; instrument names
are unique across hosts).

**One campaign fails alone.** Anything a campaign raises while it is set up or ticked (its policy
does not load, its spec does not fit this lab, its code raised) marks *that* campaign ``failed``
with the reason in one line (:func:`~flows.campaign.failure.fail_campaign`), and the worker goes on
with the rest of the queue. A lost race with another worker (the instrument or step was claimed
first) is a wait, not a failure. A database that drops its connection is retried with back-off
(1, 2, 4... up to 60 s) and the worker carries on where the store says. A stop request (SIGTERM,
SIGINT) ends the worker after the current round; campaigns resume from the store.

**No secrets in Prefect.** :func:`worker_flow` takes the store's handle (``db.store_handle``: the
URL without its password), never the URL: Prefect keeps a flow's parameters in its own database
and serves them on its API. The flow opens the handle with ``db.open_handle``, which finds the
password in this process's memory, ``LAB_DATABASE_URL`` or libpq's password file (README, "Secrets").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

from prefect import flow
from prefect.states import Failed

import db
from flows.campaign import instrument_calls, milestones, shutdown
from flows.campaign.artifacts import publish_summary
from flows.campaign.engine import ENDED, PEOPLE_NAP_S, CampaignEngine, EngineSettings
from flows.campaign.failure import fail_campaign, one_line
from flows.campaign.hosting import StepHost
from flows.campaign.instrument_health import InstrumentHealth
from flows.campaign.lease import LEASE_S, WorkerLease
from flows.campaign.policy_source import build_policy
from flows.campaign.runtime import Rig, hardware_rig, simulated_rig
from flows.notify.config import load_notify_config
from flows.notify.notifier import Notifier
from lab.clock import WallClock
from lab.spec import CampaignSpec, InstrumentsSpec

__all__ = ["RACES", "Worker", "worker_flow"]

log = logging.getLogger(__name__)

#: Real seconds between looks at an empty queue.
IDLE_NAP_S = 2.0
#: Back-off after the database could not be reached (real seconds, doubling up to the last).
RECONNECT_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
#: Ledger refusals that mean another worker got there first: wait for the next tick.
RACES = (db.InstrumentClaimed, db.InvalidTransition, db.ClaimLost)


@dataclass
class Worker:
    """Claims and runs campaigns on one rig.

    Args:
        store: the open store.
        rig: the instruments and clock shared by every campaign.
        lease: this worker's name and lease (already acquired).
        max_campaigns: most campaigns run side by side.
        notifier: sends notifications after each round (see :mod:`flows.notify.notifier`).

    On a lab file (not the simulated lab) it is also a step host for other workers' campaigns
    (``host``): their steps on its instruments go out, are polled and collected here.
    """

    store: db.Store
    rig: Rig
    lease: WorkerLease
    max_campaigns: int = 4
    engines: dict[int, CampaignEngine] = field(default_factory=dict)
    health: InstrumentHealth = field(default_factory=InstrumentHealth)
    finished: list[tuple[int, str]] = field(default_factory=list)
    notifier: Notifier | None = None
    host: StepHost | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.rig.simulated:  # a simulated lab is this process's own: nobody else's steps can run on it
            self.host = StepHost(self.store, self.rig.instruments, self.rig.clock, self.health, self.worker_id)

    @property
    def worker_id(self) -> str:
        return self.lease.name

    def claim(self) -> None:
        """Take campaigns until ``max_campaigns`` run (own after a restart first, then queued or lapsed, oldest first)."""
        while len(self.engines) < self.max_campaigns:
            with self.store.session() as s:
                info = db.claim_campaign(s, self.worker_id, self.lease.now(), self.lease.lease_s, held=set(self.engines))
            if info is None:
                return
            try:
                self.engines[info.id] = self._engine(info)
            except db.DatabaseUnreachable:
                raise
            except Exception as exc:  # this campaign cannot run here: say why, and do not block the queue
                self._fail(info.id, exc)
            else:
                log.info("campaign %s claimed by %s", info.id, self.worker_id)
                milestones.campaign_claimed(self.store, info.id, self.worker_id, self.rig.clock.now())

    def _engine(self, info: db.CampaignInfo) -> CampaignEngine:
        spec = CampaignSpec.from_store_dict(info.spec)
        settings = EngineSettings(poll_interval_s=3600.0 if self.rig.simulated else 60.0)
        return CampaignEngine(self.store, info.id, self.rig.instruments, self.rig.clock,
                              build_policy(spec.policy.name, spec.policy.options, self.store), settings,
                              worker_id=self.worker_id, lease_s=self.lease.lease_s, health=self.health,
                              other_hosts=self.host is not None)

    def _fail(self, campaign_id: int, exc: BaseException) -> None:
        reason = one_line(exc)
        log.error("campaign %s failed: %s", campaign_id, reason)
        log.debug("campaign %s failed here:", campaign_id, exc_info=exc)  # the traceback, for engineers (logging at DEBUG)
        fail_campaign(self.store, campaign_id, reason, self.rig.clock.now(), self.rig.instruments)
        self.engines.pop(campaign_id, None)
        self.finished.append((campaign_id, "failed"))
        publish_summary(self.store, campaign_id, self.rig.clock.now())

    def round(self) -> None:
        """One tick of every campaign held; drop those that ended, failed or were taken over."""
        for cid, engine in list(self.engines.items()):
            try:
                status = engine.tick()
            except RACES as exc:
                log.info("campaign %s: another worker got there first (%s); trying again next tick", cid, exc)
                continue
            except db.DatabaseUnreachable:
                raise
            except Exception as exc:
                self._fail(cid, exc)
                continue
            if status in ENDED:
                del self.engines[cid]
                self.finished.append((cid, status))
                if status != "released":
                    publish_summary(self.store, cid, self.rig.clock.now())
        if self.host is not None:
            self.host.round(held=set(self.engines))

    def wait(self) -> None:
        """Wait for the earliest expected event of any campaign (or nap when nothing can happen)."""
        clock = self.rig.clock
        dues = [d for d in (e.next_due() for e in self.engines.values()) if d is not None]
        hosting = self.host is not None and self.host.serving
        if self.host is not None and (due := self.host.next_due()) is not None:
            dues.append(due)
        if not self.engines and not hosting:
            time.sleep(IDLE_NAP_S)
            return
        if not dues and not hosting and all(e.waiting_for_people for e in self.engines.values()):
            time.sleep(PEOPLE_NAP_S)
            return
        now = clock.now()
        cap = now + timedelta(seconds=3600.0 if clock.simulated else 60.0)
        target = min(dues + [cap]) if dues else cap
        clock.sleep(max((target - now).total_seconds(), 1.0))

    def run(self, once: bool = False) -> list[tuple[int, str]]:
        """Claim, tick and wait until a stop is requested (or, with ``once``, the queue is empty).

        Raises:
            db.WorkerLeaseLost: another process took this worker's name (its lease had lapsed).
        """
        failures = 0
        while not shutdown.stop_requested():
            if not self.lease.alive():
                raise db.WorkerLeaseLost(self.lease.lost or f"worker {self.worker_id} lost its name")
            try:
                self.claim()
                if once and not self.engines:
                    break
                self.round()
                self.notify()
                failures = 0
            except db.DatabaseUnreachable as exc:
                delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
                failures += 1
                log.warning("the database did not answer (%s); retrying in %.0f s", exc, delay)
                time.sleep(delay)
                continue
            self.lease.round_done()
            self.wait()
        self.notify()
        return self.finished

    def notify(self) -> None:
        """Send the notifications due (:class:`~flows.notify.notifier.Notifier`; none without a notify file)."""
        if self.notifier is not None:
            self.notifier.tick(self.rig.clock.now(), held=list(self.engines))


@flow(name="worker", log_prints=False, validate_parameters=False)
def worker_flow(worker_id: str, store: str | None = None, lab_file: str | None = None,
                max_campaigns: int = 4, once: bool = False, lease_s: float = LEASE_S,
                notify_file: str | None = None, pool: str | None = None) -> list[tuple[int, str]]:
    """Run queued campaigns until stopped; returns (campaign id, final status) of those it ended.

    Args:
        worker_id: this worker's name in the store.
        store: the store's handle (``db.store_handle(url)``, no password; ``None``: the default store).
        lab_file: a lab file naming real instruments; ``None``: the simulated lab.
        max_campaigns: most campaigns run side by side.
        once: stop when the queue is empty instead of waiting.
        lease_s: seconds after which another worker may take over this one's campaigns.
        notify_file: a notify file (:mod:`flows.notify.config`); ``None``: no notifications.
        pool: the Prefect work pool this worker serves (``instruments`` on an instrument host), kept
            with the flow run's parameters so the Prefect UI shows it; it changes nothing else.

    An error ends the flow run ``Failed`` with its one-line message (no traceback in the log) and
    is raised to the caller as it was.

    Raises:
        db.WorkerNameTaken: a live worker already runs under ``worker_id``.
        db.WorkerLeaseLost: another process took the name while this one ran.
    """
    shutdown.install()  # Prefect's flow engine replaced the SIGTERM handler: a stop is still a clean stop
    try:
        return _serve(worker_id, store, lab_file, max_campaigns, once, lease_s, notify_file)
    except Exception as exc:
        return cast(list[tuple[int, str]], Failed(message=one_line(exc), data=exc))


def _serve(worker_id: str, handle: str | None, lab_file: str | None, max_campaigns: int, once: bool,
           lease_s: float, notify_file: str | None = None) -> list[tuple[int, str]]:
    store = db.open_handle(handle)
    try:
        if lab_file:
            rig_cm = hardware_rig(lab_file)
        else:
            instrument_calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]
            rig_cm = simulated_rig(InstrumentsSpec(), seed=0, start=WallClock().now())
        with WorkerLease(store, worker_id, lease_s=lease_s) as lease, rig_cm as rig:
            notifier = Notifier(store, load_notify_config(notify_file)) if notify_file else None
            return Worker(store, rig, lease, max_campaigns, notifier=notifier).run(once=once)
    finally:
        store.dispose()
