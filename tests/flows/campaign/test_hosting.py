"""Step hosts in one process: a campaign's steps on whichever worker holds the instrument.

Two :class:`~flows.campaign.worker.Worker` objects under real leases, each given part of one
simulated lab (host A: the dosing station and the diffractometer; host B: the furnaces), take
turns on one SQLite store and one simulated clock. The cross-host test with real processes, a
real Prefect server and PostgreSQL is ``test_cross_host.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest

import db
from flows.campaign import control, instrument_calls
from flows.campaign.engine import CampaignEngine
from flows.campaign.failure import fail_campaign
from flows.campaign.hosting import StepHost, is_split
from flows.campaign.lease import WorkerLease
from flows.campaign.runtime import Rig
from flows.campaign.worker import Worker
from flows.errors import MissingInstruments
from policies.registry import make_policy
from tests.flows.campaign.test_control import queue, spec_text, states, steps_started

HOSTS = {"host-a": ("dosing", "xrd"), "host-b": ("furnace",)}


def part(rig: Rig, kinds: tuple[str, ...]) -> Rig:
    """The instruments of ``kinds`` of ``rig``, as a host's lab file would connect them."""
    return Rig({n: d for n, d in rig.instruments.items() if str(d.kind) in kinds}, rig.clock, False)


@pytest.fixture
def hosts(store: db.Store, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Worker]]:
    monkeypatch.setattr(instrument_calls, "RETRY_DELAYS", [0.0, 0.0, 0.0])
    with ExitStack() as stack:
        workers = {}
        for name, kinds in HOSTS.items():
            lease = stack.enter_context(WorkerLease(store, name, lease_s=600.0))
            workers[name] = Worker(store, part(rig, kinds), lease)
        yield workers


def run(workers: dict[str, Worker], store: db.Store, cid: int, rounds: int = 3000) -> str:
    """Rounds of every worker, the shared clock jumping to the next expected event, until the campaign ends."""
    clock = next(iter(workers.values())).rig.clock
    for _ in range(rounds):
        for w in workers.values():
            w.claim()
            w.round()
        with store.session() as s:
            status = db.get_campaign(s, cid).status
        if status in ("completed", "failed"):
            return status
        dues = [d for w in workers.values() for d in [*(e.next_due() for e in w.engines.values()),
                                                       w.host.next_due() if w.host else None] if d is not None]
        now = clock.now()
        clock.sleep(max((min(dues, default=now + timedelta(hours=1)) - now).total_seconds(), 1.0))
    raise AssertionError(f"campaign {cid} did not end in {rounds} rounds")


def test_each_step_is_sent_once_by_the_host_holding_its_instrument(store: db.Store, hosts: dict[str, Worker]) -> None:
    cid, _ = queue(store, spec_text(5))
    assert run(hosts, store, cid) == "completed"
    assert states(store, cid) == {"rewarded": 5}
    with store.session() as s:
        intents = db.list_intents(s, [cid])
        steps = db.step_history(s, cid)
        claims = [e.detail["worker"] for e in db.list_events(s, cid) if e.kind == "campaign_claimed"]
    owner = {n: name for name, w in hosts.items() for n in w.rig.instruments}
    assert claims == ["host-a"]  # host A decided; host B served its furnaces
    assert all(i.worker == owner[i.instrument] for i in intents)
    assert {i.worker for i in intents if i.instrument.startswith("furnace")} == {"host-b"}
    assert len(intents) == len(steps) == 15 and all(st.state == "done" and st.attempts == 1 for st in steps)


def test_a_paused_campaign_starts_no_step_on_another_host(store: db.Store, hosts: dict[str, Worker]) -> None:
    cid, _ = queue(store, spec_text(4))
    a, b = hosts["host-a"], hosts["host-b"]
    clock = a.rig.clock
    while not any(st.state == "done" and st.instrument_kind == "dosing" for st in _steps(store, cid)):
        a.claim()
        a.round()
        clock.sleep(300.0)
    control.pause(store, cid, clock.now(), now=True)
    before = steps_started(store, cid)
    for _ in range(5):
        b.round()
        clock.sleep(600.0)
    assert steps_started(store, cid) == before, "host B sent an anneal of a campaign paused --now"
    control.resume(store, cid, clock.now())
    b.round()
    assert steps_started(store, cid) > before


def test_a_failed_campaigns_job_on_another_hosts_furnace_is_cleared_and_the_next_campaign_gets_it(
        store: db.Store, hosts: dict[str, Worker]) -> None:
    one_furnace = 'furnaces = ["furnace-1"]'
    bad, _ = queue(store, spec_text(2).replace('furnaces = ["furnace-1", "furnace-2", "furnace-3", "furnace-4"]', one_furnace))
    a, b = hosts["host-a"], hosts["host-b"]
    a.max_campaigns = 1  # the next campaign waits for this one to end
    clock = a.rig.clock
    while not any(st.state == "acked" and st.instrument == "furnace-1" for st in _steps(store, bad)):
        a.claim()
        a.round()
        b.round()
        clock.sleep(300.0)
    # the claimant (host A, no furnace) fails it: the anneal is lost in the ledger, not aborted on the device
    fail_campaign(store, bad, "RuntimeError: the policy raised", clock.now(), a.rig.instruments)
    assert b.rig.instruments["furnace-1"].status().holds_job
    good, _ = queue(store, spec_text(2).replace('furnaces = ["furnace-1", "furnace-2", "furnace-3", "furnace-4"]',
                                                one_furnace))
    assert run(hosts, store, good) == "completed"
    assert states(store, good) == {"rewarded": 2}
    with store.session() as s:
        cleared = [e.message for e in db.list_events(s, good) if e.kind == "orphan_job_cleared"]
    assert len(cleared) == 1 and "furnace-1 held C1-E" in cleared[0], cleared


def test_a_host_holding_every_instrument_leaves_other_workers_campaigns_alone(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(4))
    with WorkerLease(store, "full-a", lease_s=600.0) as la, WorkerLease(store, "full-b", lease_s=600.0) as lb:
        a = Worker(store, Rig(rig.instruments, rig.clock, False), la)
        b = Worker(store, Rig(rig.instruments, rig.clock, False), lb)
        for _ in range(6):
            a.claim()
            a.round()
            b.round()
            rig.clock.sleep(600.0)
        with store.session() as s:
            workers = {i.worker for i in db.list_intents(s, [cid])}
    assert workers == {"full-a"}  # several workers on one lab file: the claimant does everything, as before
    assert b.host is not None and not b.host.serving


def test_a_campaign_needs_some_of_its_instruments_here_and_the_others_on_other_hosts(store: db.Store, rig: Rig) -> None:
    cid, spec = queue(store, spec_text(2))
    kinds = {str(k): v for k, v in spec.instruments.by_kind().items()}
    furnaces = part(rig, ("furnace",)).instruments
    assert is_split(kinds, furnaces) and not is_split(kinds, rig.instruments) and not is_split(kinds, {})
    with pytest.raises(MissingInstruments):  # a worker on the simulated lab has no other hosts
        CampaignEngine(store, cid, furnaces, rig.clock, make_policy("sobol"))
    with pytest.raises(MissingInstruments):  # none of its instruments here
        CampaignEngine(store, cid, {}, rig.clock, make_policy("sobol"), other_hosts=True)
    engine = CampaignEngine(store, cid, furnaces, rig.clock, make_policy("sobol"), other_hosts=True)
    assert engine.local == {"dosing": [], "furnace": sorted(furnaces), "xrd": [], "uvvis": []}
    host = StepHost(store, furnaces, rig.clock, engine.health, "host-b")
    host.round()
    assert host.serving is False  # still queued: nothing to serve


def _steps(store: db.Store, cid: int) -> list[db.StepInfo]:
    with store.session() as s:
        return db.step_history(s, cid)
