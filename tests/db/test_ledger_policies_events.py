"""Content-addressed policy versions, and the campaign event log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.engine import Store
from db.errors import CampaignNotFound, ConflictingRecord, PolicyVersionNotFound
from db.ledger import (
    get_policy_version,
    get_policy_version_by_sha,
    latest_policy_version,
    list_events,
    list_policy_versions,
    log_event,
    policy_sha256,
    store_policy_version,
)

H = timedelta(hours=1)


def test_policy_versions_are_content_addressed(store: Store, t0) -> None:
    weights = bytes(range(256)) * 40
    with store.session() as s:
        sha1 = store_policy_version(s, "metabo", "1", weights, {"hidden": 64, "lr": 3e-4}, t0, metrics={"ess": 0.7})
        again = store_policy_version(s, "metabo", "1-copy", weights, {"lr": 3e-4, "hidden": 64}, t0 + H)
        sha2 = store_policy_version(s, "metabo", "2", weights[::-1], {"hidden": 64, "lr": 3e-4}, t0 + 2 * H, parent="1")
        random_sha = store_policy_version(s, "random", "1", None, {}, t0)
        sobol_sha = store_policy_version(s, "sobol", "1", None, {}, t0)
    assert again == sha1 == policy_sha256("metabo", weights, {"lr": 3e-4, "hidden": 64})
    assert len({sha1, sha2, random_sha, sobol_sha}) == 4
    with store.session() as s:
        latest = latest_policy_version(s, "metabo")
        first = get_policy_version(s, "metabo", "1")
        assert get_policy_version_by_sha(s, sha1) == first
        assert [p.version for p in list_policy_versions(s, "metabo")] == ["1", "2"]
        assert latest_policy_version(s, "nobody") is None
    assert (latest.version, latest.sha256, latest.parent_version, latest.weights) == ("2", sha2, "1", weights[::-1])
    assert (first.weights, first.config, first.metrics, first.created_at) == (weights, {"hidden": 64, "lr": 3e-4},
                                                                              {"ess": 0.7}, t0)
    with pytest.raises(ConflictingRecord, match="new version"):
        with store.session() as s:
            store_policy_version(s, "metabo", "2", b"other", {}, t0)
    with pytest.raises(PolicyVersionNotFound):
        with store.session() as s:
            get_policy_version(s, "metabo", "9")


def test_events_are_logged_per_campaign(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    with store.session() as s:
        log_event(s, t0 + H, "warning", "experiment_lost", "C1-E4 lost: furnace-2 did not answer", cid, {"experiment": 4})
        log_event(s, t0 + 2 * H, "info", "policy_fallback", "out of distribution: using qlognei", cid)
        log_event(s, t0 + 3 * H, "error", "instrument_offline", "xrd-1 offline")
    with store.session() as s:
        mine = list_events(s, campaign_id=cid)
        recent = list_events(s, since=t0 + 2 * H)
        warnings = list_events(s, level="warning")
    assert [(e.kind, e.level, e.at) for e in mine] == [("experiment_lost", "warning", t0 + H),
                                                       ("policy_fallback", "info", t0 + 2 * H)]
    assert mine[0].detail == {"experiment": 4} and mine[1].detail == {}
    assert [e.kind for e in recent] == ["policy_fallback", "instrument_offline"] and recent[1].campaign_id is None
    assert [e.kind for e in warnings] == ["experiment_lost"]
    with pytest.raises(ValueError, match="unknown event level"):
        with store.session() as s:
            log_event(s, t0, "fatal", "x", "y")
    with pytest.raises(CampaignNotFound):
        with store.session() as s:
            log_event(s, t0, "info", "x", "y", campaign_id=999)
