"""Campaigns: create, read, status changes, claims by workers and heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db.engine import Store
from db.errors import CampaignNotFound, ClaimLost
from db.ledger import (
    claim_campaign,
    get_campaign,
    get_reward_definition,
    heartbeat,
    list_campaigns,
    set_campaign_status,
)


def test_a_new_campaign_is_queued_with_its_spec_and_reward(store: Store, new_campaign, spec_for, reward_v1, t0) -> None:
    toml = '[campaign]\nname = "BaTiO3 night"\n# as submitted, comments included\n'
    cid = new_campaign(spec_toml=toml, approval_required=True, seed=2**40 + 3)
    with store.session() as s:
        info = get_campaign(s, cid)
        assert get_reward_definition(s, cid) == reward_v1
    assert (info.id, info.name, info.status, info.reward_version) == (cid, "BaTiO3 night", "queued", "v1")
    assert info.spec == spec_for() and info.spec_toml == toml
    assert info.seed == 2**40 + 3 and info.approval_required is True
    assert info.created_at == t0 and info.started_at is None and info.finished_at is None
    assert info.claimed_by is None


def test_campaign_not_found_says_how_to_list_them(store: Store) -> None:
    with pytest.raises(CampaignNotFound) as caught:
        with store.session() as s:
            get_campaign(s, 7)
    assert str(caught.value) == "no campaign with id 7; `lab status` lists them"
    assert isinstance(caught.value, LookupError)


def test_status_changes_set_start_and_finish_times(store: Store, new_campaign, t0: datetime) -> None:
    cid = new_campaign()
    with store.session() as s:
        running = set_campaign_status(s, cid, "running", t0 + timedelta(minutes=1))
        set_campaign_status(s, cid, "paused", t0 + timedelta(minutes=2))
        set_campaign_status(s, cid, "running", t0 + timedelta(minutes=3))
        done = set_campaign_status(s, cid, "completed", t0 + timedelta(hours=9))
    assert running.started_at == t0 + timedelta(minutes=1)
    assert done.started_at == t0 + timedelta(minutes=1)
    assert done.finished_at == t0 + timedelta(hours=9)
    with store.session() as s:
        assert [c.status for c in list_campaigns(s)] == ["completed"]
        assert list_campaigns(s, status="queued") == []


def test_unknown_status_is_refused(store: Store, new_campaign, t0: datetime) -> None:
    cid = new_campaign()
    with pytest.raises(ValueError, match="unknown campaign status 'done'"):
        with store.session() as s:
            set_campaign_status(s, cid, "done", t0)


def test_claims_take_the_oldest_queued_campaign(store: Store, new_campaign, t0: datetime) -> None:
    first = new_campaign(at=t0)
    second = new_campaign(at=t0 + timedelta(minutes=5))
    with store.session() as s:
        claimed = claim_campaign(s, "worker-a", t0 + timedelta(minutes=10))
    assert claimed is not None and claimed.id == first
    assert (claimed.status, claimed.claimed_by) == ("running", "worker-a")
    assert claimed.heartbeat_at == claimed.started_at == t0 + timedelta(minutes=10)
    with store.session() as s:
        assert claim_campaign(s, "worker-b", t0 + timedelta(minutes=11)).id == second
        assert claim_campaign(s, "worker-c", t0 + timedelta(minutes=12)) is None


def test_a_stale_campaign_is_taken_over_and_its_old_worker_told(store: Store, new_campaign, t0: datetime) -> None:
    cid = new_campaign()
    with store.session() as s:
        claim_campaign(s, "worker-a", t0)
        heartbeat(s, cid, "worker-a", t0 + timedelta(minutes=4))
    with store.session() as s:  # 4 min after the last heartbeat: not stale yet
        assert claim_campaign(s, "worker-b", t0 + timedelta(minutes=8), stale_after_s=300) is None
    with store.session() as s:
        taken = claim_campaign(s, "worker-b", t0 + timedelta(minutes=10), stale_after_s=300)
    assert taken is not None and taken.claimed_by == "worker-b" and taken.started_at == t0
    with pytest.raises(ClaimLost, match="worker-b"):
        with store.session() as s:
            heartbeat(s, cid, "worker-a", t0 + timedelta(minutes=11))


def test_paused_campaigns_are_not_claimed_and_requeueing_clears_the_claim(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    with store.session() as s:
        claim_campaign(s, "worker-a", t0)
        paused = set_campaign_status(s, cid, "paused", t0)
        assert paused.claimed_by is None
        assert claim_campaign(s, "worker-b", t0 + timedelta(days=1)) is None
        set_campaign_status(s, cid, "queued", t0)
        assert claim_campaign(s, "worker-b", t0).claimed_by == "worker-b"


def test_heartbeat_for_a_missing_campaign(store: Store, t0: datetime) -> None:
    with pytest.raises(CampaignNotFound):
        with store.session() as s:
            heartbeat(s, 42, "worker-a", t0)
