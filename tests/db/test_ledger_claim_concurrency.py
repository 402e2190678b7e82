"""Concurrent workers never claim the same campaign twice (real threads, separate connections)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from db.engine import Store
from db.ledger import claim_campaign


def test_concurrent_claims_take_each_campaign_exactly_once(store: Store, new_campaign, t0) -> None:
    ids = [new_campaign(at=t0 + timedelta(seconds=i)) for i in range(8)]
    claimed: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(20):  # more than enough rounds; stops at the first empty claim
                with store.session() as s:
                    info = claim_campaign(s, name, t0 + timedelta(minutes=1))
                    if info is None:
                        return
                    time.sleep(0.02)  # hold the claim's lock open while the others try
                with lock:
                    claimed.append((name, info.id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    counts = Counter(cid for _, cid in claimed)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}, counts
    if store.dialect == "postgresql":  # SKIP LOCKED lets several workers claim at once
        assert len({name for name, _ in claimed}) >= 2


def test_concurrent_intents_on_one_instrument_admit_exactly_one(store: Store, new_campaign, t0) -> None:
    from db.errors import InstrumentClaimed
    from db.ledger import busy_instruments, plan_steps, record_decision
    from lab.experiment import Proposal

    step_ids = []
    for _ in range(4):
        cid = new_campaign()
        with store.session() as s:
            [eid] = record_decision(s, cid, [Proposal({"temperature_c": 900.0, "atmosphere": "air"}, "sobol", "1")],
                                    pending_ids=[], made_at=t0, expected_completion=None, deadline=None)
            step_ids.append(plan_steps(s, eid, [("anneal", "furnace", {"temperature_c": 900.0})], t0)[0].id)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def worker(step_id: int) -> None:
        from db.ledger import claim_step_intent

        start.wait(timeout=10)
        try:
            with store.session() as s:
                claim_step_intent(s, step_id, "furnace-1", t0, None, None)
                time.sleep(0.05)
            outcomes.append("claimed")
        except InstrumentClaimed:
            outcomes.append("busy")
        except BaseException as exc:
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(sid,)) for sid in step_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["busy", "busy", "busy", "claimed"]
    with store.session() as s:
        assert list(busy_instruments(s)) == ["furnace-1"]
