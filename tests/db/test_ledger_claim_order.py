"""A restarted worker takes its own campaigns back before anyone else's lapsed ones (none is stranded)."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.engine import Store
from db.ledger import claim_campaign, get_campaign, renew_worker
from db.workers import register_worker


def test_own_campaigns_come_before_older_lapsed_ones(store: Store, new_campaign, t0: datetime) -> None:
    a, b, c = (new_campaign(at=t0 + timedelta(minutes=i)) for i in range(3))  # b is older than c
    with store.session() as s:
        register_worker(s, "w-1", token="t1", host="h", pid=1, at=t0, lease_s=20)
        assert claim_campaign(s, "w-1", t0, 20, held=set()).id == a
        assert claim_campaign(s, "w-2", t0, 20, held=set()).id == b
        assert claim_campaign(s, "w-1", t0, 20, held={a}).id == c
    later = t0 + timedelta(seconds=60)  # both died; w-2's lease on b lapsed, and so did w-1's
    with store.session() as s:  # w-1 restarts with room for two: a and c are its own, b is older than c
        register_worker(s, "w-1", token="t2", host="h", pid=2, at=later, lease_s=20)
        first = claim_campaign(s, "w-1", later, 20, held=set())
        second = claim_campaign(s, "w-1", later, 20, held={first.id})
    assert (first.id, second.id) == (a, c)
    with store.session() as s:  # b is left to whoever has room: its lease lapsed, and w-1 does not renew it
        renew_worker(s, "w-1", "t2", later + timedelta(seconds=5))
        assert get_campaign(s, b).claimed_by == "w-2" and get_campaign(s, c).heartbeat_at == later + timedelta(seconds=5)
        assert claim_campaign(s, "w-3", later + timedelta(seconds=6), 20, held=set()).id == b
