"""Notifications through apprise to a real HTTP endpoint: a campaign finished (once, with its name),
a running campaign that stalled on its own clock, a batch waiting for approval, and nothing sent
twice after a restart."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL

import db
from flows.campaign.artifacts import summary_key
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.lease import WorkerLease
from flows.campaign.runtime import Rig
from flows.campaign.worker import Worker
from flows.notify.config import load_notify_config
from flows.notify.notifier import Notifier, notify_events
from lab.clock import DEFAULT_SIM_START
from lab.spec import example_path, parse_spec
from policies.registry import make_policy
from tests.flows.campaign.notify_endpoint import hook_server


def queue(store: db.Store, experiments: int, approval: bool = False, name: str = "notify-me") -> int:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', 'name = "sobol"')
    text = re.sub(r'^name = "[^"]*"', f'name = "{name}"', text, count=1, flags=re.M)
    if approval:
        text = text.replace("batch_size = 4", "batch_size = 4\napproval_required = true")
    spec = parse_spec(text)
    with store.session() as s:
        return db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                  reward=spec.reward_definition(), approval_required=spec.approval_required,
                                  at=DEFAULT_SIM_START)


def test_a_finished_campaign_is_notified_once_with_its_name(store: db.Store, rig: Rig, tmp_path: Path) -> None:
    with hook_server() as hook:
        config = load_notify_config(hook.config(tmp_path, ["campaign_finished", "campaign_failed", "experiment_lost"]))
        cid = queue(store, 4, name="notify-finished")
        with WorkerLease(store, "notifying", lease_s=60.0) as lease:
            ended = Worker(store, rig, lease, notifier=Notifier(store, config)).run(once=True)
        assert ended == [(cid, "completed")]
        finished = [m for m in hook.messages() if "campaign finished" in m]
        assert len(finished) == 1, hook.messages()
        assert "notify-finished" in finished[0] and f"campaign {cid}" in finished[0]
        assert len(hook.messages()) == len(set(hook.messages()))
        # a restarted worker (a new notifier on the same store) sends nothing again
        assert Notifier(store, config, after=0).tick() == 0
        with store.session() as s:
            (row,) = db.list_notifications(s, "campaign_finished")
            assert row.delivered and row.key.startswith("event:") and row.campaign_id == cid
        assert len(hook.messages()) == 1
    # the worker published the campaign's summary as a Prefect artifact when it ended the campaign
    reply = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", timeout=30,
                       json={"artifacts": {"key": {"any_": [summary_key(cid)]}}, "sort": "UPDATED_DESC", "limit": 5, "offset": 0})
    reply.raise_for_status()
    artifacts = reply.json()
    assert artifacts and artifacts[0]["type"] == "markdown"
    assert "notify-finished" in artifacts[0]["data"] and "completed" in artifacts[0]["data"]


def test_a_running_campaign_without_results_is_stalled_on_its_clock(store: db.Store, tmp_path: Path) -> None:
    cid = queue(store, 4, name="notify-stalled")
    with store.session() as s:
        db.set_campaign_status(s, cid, "running", DEFAULT_SIM_START)
    with hook_server() as hook:
        notifier = Notifier(store, load_notify_config(hook.config(tmp_path, ["stalled"], stalled_after_hours=2.0)))
        assert notifier.tick(DEFAULT_SIM_START + timedelta(hours=1.5), held=[cid]) == 0
        assert notifier.tick(DEFAULT_SIM_START + timedelta(hours=2.5), held=[cid]) == 1
        assert notifier.tick(DEFAULT_SIM_START + timedelta(hours=9), held=[cid]) == 0  # the same stall: once
        (message,) = hook.messages()
        assert "stalled" in message and "notify-stalled" in message and "no experiment finished" in message
        with store.session() as s:  # an experiment finishes: a new stall can be notified later
            db.log_event(s, DEFAULT_SIM_START + timedelta(hours=10), "info", "experiment_finished", "C1-E1 rewarded",
                         campaign_id=cid)
        assert notifier.tick(DEFAULT_SIM_START + timedelta(hours=11), held=[cid]) == 0
        assert notifier.tick(DEFAULT_SIM_START + timedelta(hours=12.5), held=[cid]) == 1
        with store.session() as s:
            db.set_campaign_status(s, cid, "paused", DEFAULT_SIM_START + timedelta(hours=13))
        assert Notifier(store, notifier.config).tick(DEFAULT_SIM_START + timedelta(hours=30), held=[cid]) == 0
        assert len(hook.messages()) == 2


def test_a_batch_waiting_for_approval_is_notified(store: db.Store, rig: Rig, tmp_path: Path) -> None:
    cid = queue(store, 4, approval=True, name="notify-approval")
    with hook_server() as hook:
        notifier = Notifier(store, load_notify_config(hook.config(tmp_path, ["approval_waiting", "campaign_finished"])))
        eng = CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy("sobol"),
                             EngineSettings(poll_interval_s=3600.0), worker_id="test")
        with store.session() as s:
            db.set_campaign_status(s, cid, "running", rig.clock.now())
        for _ in range(2):
            eng.tick()
            notifier.tick(rig.clock.now(), held=[cid])
        (message,) = hook.messages()
        assert "approval waiting" in message and "notify-approval" in message and f"lab approve {cid}" in message


def test_policy_updates_are_notified_as_published_or_rejected(store: db.Store, tmp_path: Path) -> None:
    with hook_server() as hook:
        config = load_notify_config(hook.config(tmp_path, ["policy_published", "policy_rejected"]))
        with store.session() as s:  # as `lab update` logs them (flows.training.update)
            before = db.latest_event_id(s)
            db.log_event(s, DEFAULT_SIM_START, "info", "policy_update", "published RL version rl-abc: ESS 80% >= 50%",
                         detail={"accepted": True, "new_version": "rl-abc"})
            db.log_event(s, DEFAULT_SIM_START, "warning", "policy_update", "update rejected: evaluation suite regressed",
                         detail={"accepted": False})
        assert notify_events(store, config, after=before) == 2
        assert notify_events(store, config, after=before) == 0  # `lab update` run again: nothing twice
        published, rejected = hook.messages()
        assert "policy published" in published and "rl-abc" in published
        assert "policy rejected" in rejected and "suite regressed" in rejected
