"""Several notifiers on one store (workers side by side, or a restart) send each notification once:
the notification's key is taken in the store before anything is sent (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import db
from flows.notify.config import load_notify_config
from flows.notify.notifier import Notifier
from lab.clock import DEFAULT_SIM_START
from lab.reward import RewardDefinition, RewardTerm
from tests.flows.campaign.notify_endpoint import hook_server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[db.Store]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'lab.db'}"
    s = db.open_store(url)
    yield s
    s.dispose()


def test_four_notifiers_racing_on_one_event_send_it_once(store: db.Store, tmp_path: Path) -> None:
    with store.session() as s:
        cid = db.create_campaign(s, name="raced", spec_toml="", spec={}, seed=1,
                                 reward=RewardDefinition("v1", (RewardTerm("y"),)), at=DEFAULT_SIM_START)
        before = db.latest_event_id(s)
    with hook_server() as hook:
        config = load_notify_config(hook.config(tmp_path, ["campaign_failed", "experiment_lost"]))
        notifiers = [Notifier(store, config, after=before) for _ in range(4)]
        with store.session() as s:
            failed = db.log_event(s, DEFAULT_SIM_START, "error", "campaign_failed", "the policy did not load", campaign_id=cid)
            db.log_event(s, DEFAULT_SIM_START, "warning", "experiment_lost", f"C{cid}-E1 passed its deadline", campaign_id=cid)
        start = threading.Barrier(len(notifiers))
        sent: list[int] = []
        errors: list[BaseException] = []

        def race(n: Notifier) -> None:
            try:
                start.wait()
                sent.append(n.tick())
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(n,)) for n in notifiers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sum(sent) == 2 and len(hook.messages()) == 2, hook.messages()
        assert sum(n.tick() for n in notifiers) == 0
        with store.session() as s:
            rows = [r for r in db.list_notifications(s) if r.campaign_id == cid]
        assert sorted(r.kind for r in rows) == ["campaign_failed", "experiment_lost"] and all(r.delivered for r in rows)
        assert any(r.key == f"event:{failed}" for r in rows)
