"""Worker names under a lease: exclusive while live, taken over when lapsed or gone, renewed with their campaigns."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db.engine import Store
from db.errors import WorkerLeaseLost, WorkerNameTaken
from db.ledger import (
    check_worker_name,
    claim_campaign,
    get_campaign,
    get_worker,
    register_worker,
    renew_worker,
    retire_worker,
)


def test_a_live_name_is_refused_a_lapsed_or_gone_one_is_taken(store: Store, t0: datetime) -> None:
    with store.session() as s:
        register_worker(s, "w", token="a", host="h1", pid=10, at=t0, lease_s=60)
    with store.session() as s, pytest.raises(WorkerNameTaken, match="held by pid 10 on h1"):
        register_worker(s, "w", token="b", host="h2", pid=20, at=t0 + timedelta(seconds=59), lease_s=5)
    with store.session() as s:  # the holder's own 60 s lease counts, not the newcomer's 5 s
        taken = register_worker(s, "w", token="b", host="h2", pid=20, at=t0 + timedelta(seconds=61), lease_s=5)
    assert (taken.token, taken.host, taken.lease_s) == ("b", "h2", 5.0)
    with store.session() as s:  # a holder the caller knows is gone is replaced at once
        register_worker(s, "w", token="c", host="h2", pid=30, at=t0 + timedelta(seconds=62), lease_s=5,
                        is_gone=lambda holder: holder.pid == 20)
        assert get_worker(s, "w").token == "c"


def test_the_pre_flight_check_refuses_what_registration_would_and_changes_nothing(store: Store, t0: datetime) -> None:
    with store.session() as s:
        check_worker_name(s, "w", t0)  # nobody holds it
        register_worker(s, "w", token="a", host="h1", pid=10, at=t0, lease_s=60)
    with store.session() as s, pytest.raises(WorkerNameTaken, match="held by pid 10 on h1"):
        check_worker_name(s, "w", t0 + timedelta(seconds=59))
    with store.session() as s:
        check_worker_name(s, "w", t0 + timedelta(seconds=61))  # lapsed
        check_worker_name(s, "w", t0 + timedelta(seconds=1), is_gone=lambda holder: holder.pid == 10)
        assert get_worker(s, "w").token == "a"  # a check takes nothing


def test_renewal_renews_the_campaigns_under_the_name_and_fails_once_the_name_is_taken(store: Store, t0: datetime,
                                                                                    new_campaign) -> None:
    cid = new_campaign(at=t0)
    with store.session() as s:
        register_worker(s, "w", token="a", host="h", pid=1, at=t0, lease_s=30)
        claim_campaign(s, "w", t0)
    with store.session() as s:
        assert renew_worker(s, "w", "a", t0 + timedelta(seconds=20)) == 1
        assert get_campaign(s, cid).heartbeat_at == t0 + timedelta(seconds=20)
    with store.session() as s:
        register_worker(s, "w", token="b", host="h", pid=2, at=t0 + timedelta(seconds=60), lease_s=30)
    with store.session() as s, pytest.raises(WorkerLeaseLost, match="now held by pid 2"):
        renew_worker(s, "w", "a", t0 + timedelta(seconds=61))


def test_a_restart_under_its_name_claims_its_running_campaign_at_once_and_no_other_name_can(store: Store, t0: datetime,
                                                                                          new_campaign) -> None:
    cid = new_campaign(at=t0)
    with store.session() as s:
        assert claim_campaign(s, "w", t0, held=set()).id == cid
    with store.session() as s:
        assert claim_campaign(s, "w", t0 + timedelta(seconds=1), held={cid}) is None  # already running it
        assert claim_campaign(s, "other", t0 + timedelta(seconds=1), held=set()) is None  # the lease is live
    with store.session() as s:
        assert claim_campaign(s, "w", t0 + timedelta(seconds=2), held=set()).id == cid  # a restart: at once


def test_retiring_gives_the_name_up_and_lets_another_worker_take_the_campaigns_at_once(store: Store, t0: datetime,
                                                                                      new_campaign) -> None:
    cid = new_campaign(at=t0)
    with store.session() as s:
        register_worker(s, "w", token="a", host="h", pid=1, at=t0, lease_s=300)
        claim_campaign(s, "w", t0)
    with store.session() as s:
        retire_worker(s, "w", "b", t0)  # not the holder's token: nothing happens
        assert get_worker(s, "w") is not None
        retire_worker(s, "w", "a", t0 + timedelta(seconds=1))
        assert get_worker(s, "w") is None
    with store.session() as s:
        assert claim_campaign(s, "other", t0 + timedelta(seconds=2)).id == cid
