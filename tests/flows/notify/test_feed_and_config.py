"""The event feed returns each event once, including one committed late below the cursor; the
notify file is checked field by field and its URLs are never shown whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

import db
from db.models import Event
from flows.notify.config import KINDS, load_notify_config, mask_apprise_url
from flows.notify.errors import NotifyConfigError
from flows.notify.feed import EventFeed, event_line
from flows.notify.notifier import notification_kind
from lab.clock import DEFAULT_SIM_START
from lab.errors import SpecError
from lab.reward import RewardDefinition, RewardTerm

T0 = DEFAULT_SIM_START


@pytest.fixture
def store(tmp_path: Path):
    s = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    yield s
    s.dispose()


def campaign(store: db.Store, name: str = "feed") -> int:
    with store.session() as s:
        return db.create_campaign(s, name=name, spec_toml="", spec={}, seed=1,
                                  reward=RewardDefinition("v1", (RewardTerm("y"),)), at=T0)


def log(store: db.Store, cid: int | None, message: str, kind: str = "note", level: str = "info") -> int:
    with store.session() as s:
        return db.log_event(s, T0, level, kind, message, campaign_id=cid)


def test_the_feed_returns_new_events_once_in_order_and_only_its_campaigns(store: db.Store) -> None:
    a, b = campaign(store, "a"), campaign(store, "b")
    log(store, a, "before the feed")
    feed, only_b = EventFeed(store), EventFeed(store, campaign_id=b)
    assert feed.poll() == [] and only_b.poll() == []
    ids = [log(store, a, "one"), log(store, b, "two"), log(store, None, "three")]
    assert [e.id for e in feed.poll()] == ids and feed.cursor == ids[-1]
    assert feed.poll() == []
    assert [e.message for e in only_b.poll()] == ["two"]
    assert [e.message for e in EventFeed(store, after=0).poll()] == ["before the feed", "one", "two", "three"]


def test_an_event_committed_late_below_the_cursor_is_still_returned_once(store: db.Store) -> None:
    cid = campaign(store)
    feed = EventFeed(store)
    first = log(store, cid, "first")
    late = log(store, cid, "late")
    last = log(store, cid, "last")
    with store.session() as s:  # as if "late" had not committed yet when the feed looked
        s.execute(update(Event).where(Event.id == late).values(campaign_id=None))
    feed.campaign_id = cid
    assert [e.id for e in feed.poll()] == [first, last]
    with store.session() as s:
        s.execute(update(Event).where(Event.id == late).values(campaign_id=cid))
    assert [e.id for e in feed.poll()] == [late]
    assert feed.poll() == []


def test_event_lines_and_notification_kinds() -> None:
    e = db.EventInfo(1, 3, T0 + timedelta(minutes=5), "error", "campaign_failed", "policy did\nnot load", {})
    assert event_line(e) == f"{T0 + timedelta(minutes=5):%Y-%m-%d %H:%M} campaign 3: error: policy did not load"
    assert event_line(db.EventInfo(2, 3, T0, "info", "campaign_claimed", "campaign 3 (x) claimed by worker w", {})) \
        == f"{T0:%Y-%m-%d %H:%M} campaign 3 (x) claimed by worker w"
    assert notification_kind(e) == "campaign_failed"
    assert notification_kind(db.EventInfo(3, None, T0, "warning", "policy_update", "update rejected", {})) == "policy_rejected"
    assert notification_kind(db.EventInfo(4, None, T0, "info", "policy_update", "x", {"accepted": True})) == "policy_published"
    assert notification_kind(db.EventInfo(5, 3, T0, "info", "decision_made", "x", {})) is None


def test_a_good_notify_file_and_masked_urls(tmp_path: Path) -> None:
    path = tmp_path / "notify.toml"
    path.write_text('urls = ["json://user:pw@127.0.0.1:8123/hook", "tgram://123:SECRET/42"]\n', encoding="utf-8")
    config = load_notify_config(path)
    assert config.on == frozenset(KINDS) and config.stalled_after_hours == 2.0
    assert config.masked_urls() == ["json://***", "tgram://***"]
    assert "pw" not in config.describe() and "SECRET" not in config.describe()
    assert mask_apprise_url("no scheme at all") == "***"


@pytest.mark.parametrize("body, words", [
    ("on = []\n", "urls: expected a non-empty list"),
    ('urls = ["json://127.0.0.1/x"]\non = "stalled"\n', "on: expected a list"),
    ('urls = ["json://127.0.0.1/x"]\nstalled_after_hours = true\n', "stalled_after_hours: expected a number"),
])
def test_a_bad_notify_file_lists_its_problems(tmp_path: Path, body: str, words: str) -> None:
    path = tmp_path / "notify.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(NotifyConfigError) as caught:
        load_notify_config(path)
    assert any(words in p for p in caught.value.problems) and caught.value.source == str(path)


def test_a_missing_notify_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_notify_config(tmp_path / "absent.toml")
