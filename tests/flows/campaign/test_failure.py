"""A campaign that cannot go on fails with its reason, alone; one whose experiments were all refused never completes."""

from __future__ import annotations

from pathlib import Path

import pytest

import db
from flows.campaign.flow import run_campaign
from flows.campaign.runtime import Rig
from flows.errors import CampaignFailed
from lab.clock import DEFAULT_SIM_START
from lab.spec import CampaignSpec, example_path, parse_spec

SPECS = Path(__file__).parent / "specs"


def stored(store: db.Store, text: str) -> tuple[int, CampaignSpec]:
    """Stored as if queued elsewhere, past the admission checks (the worker must still cope)."""
    spec = parse_spec(text)
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
    return cid, spec


def test_a_campaign_whose_every_experiment_is_refused_ends_failed_not_completed(store: db.Store, rig: Rig,
                                                                               run_worker) -> None:
    hot, _ = stored(store, (SPECS / "hot_furnace.toml").read_text(encoding="utf-8"))
    good, _ = stored(store, example_path("batio3").read_text(encoding="utf-8")
                     .replace("experiments = 24", "experiments = 3").replace('name = "rl"', 'name = "sobol"'))
    assert sorted(run_worker(store, rig, "w1")) == [(hot, "failed"), (good, "completed")]
    with store.session() as s:
        counts = db.count_by_state(s, hot)
        (event,) = [e for e in db.list_events(s, hot) if e.kind == "campaign_failed"]
    assert counts["lost"] == 8 and counts["rewarded"] == 0
    assert event.message.startswith("all 8 experiment(s) were lost or refused") and "refused" in event.message


def test_lab_run_of_a_campaign_whose_policy_does_not_load_fails_it_with_the_reason(store: db.Store, rig: Rig) -> None:
    cid, spec = stored(store, example_path("batio3").read_text(encoding="utf-8")
                       .replace('name = "rl"', 'name = "rl"\noptions = { checkpoint = "/nowhere/policy.lab" }'))
    with pytest.raises(CampaignFailed, match="/nowhere/policy.lab") as caught:
        run_campaign(store, cid, spec, rig)
    assert "\n" not in str(caught.value)
    with store.session() as s:
        assert db.get_campaign(s, cid).status == "failed"
        assert [e.kind for e in db.list_events(s, cid)] == ["campaign_failed"]
