"""Crash recovery of the engine: a new engine picks up from the store, sending nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import db
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.runtime import Rig, simulated_rig
from lab.clock import DEFAULT_SIM_START
from lab.experiment import ExperimentState
from lab.spec import InstrumentsSpec, example_path, parse_spec
from policies.registry import make_policy

S = ExperimentState


@pytest.fixture
def rig(prefect_harness: None) -> Iterator[Rig]:
    with simulated_rig(InstrumentsSpec(), seed=5, start=DEFAULT_SIM_START) as r:
        yield r


@pytest.fixture
def store(tmp_path: Path) -> Iterator[db.Store]:
    s = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    yield s
    s.dispose()


def new_engine(store: db.Store, rig: Rig, experiments: int = 2) -> CampaignEngine:
    text = example_path("batio3").read_text(encoding="utf-8").replace("experiments = 24", f"experiments = {experiments}")
    spec = parse_spec(text.replace('name = "rl"', 'name = "sobol"'))
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=1,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
        db.set_campaign_status(s, cid, "running", DEFAULT_SIM_START)
    return engine_for(store, rig, cid)


def engine_for(store: db.Store, rig: Rig, cid: int) -> CampaignEngine:
    return CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy("sobol"), EngineSettings(), worker_id="w")


def test_an_intent_that_never_reached_the_device_is_sent_once_after_a_restart(store: db.Store, rig: Rig) -> None:
    first = new_engine(store, rig)
    first._propose()
    with store.session() as s:
        exp = db.list_experiments(s, first.campaign_id)[0]
        step = db.next_planned_step(s, exp.id)
        now = rig.clock.now()
        # the worker committed its intent, then died before any byte went out
        db.claim_step_intent(s, step.id, "doser", now, now + timedelta(minutes=10), now + timedelta(hours=1))
        db.transition(s, exp.id, S.DISPATCHED, now)
    rig.clock.advance(6 * 3600)  # long past that intent's deadline: it still was never sent
    second = engine_for(store, rig, first.campaign_id)
    assert second.run() == "completed"
    assert rig.lab.devices["doser"].starts == 2
    with store.session() as s:
        assert {e.state for e in db.list_experiments(s, first.campaign_id)} == {S.REWARDED}


def test_a_job_the_device_acknowledged_and_then_forgot_is_lost_with_a_reason(store: db.Store, rig: Rig) -> None:
    engine = new_engine(store, rig, experiments=1)
    engine._propose()
    with store.session() as s:
        exp = db.list_experiments(s, engine.campaign_id)[0]
        step = db.next_planned_step(s, exp.id)
        now = rig.clock.now()
        db.claim_step_intent(s, step.id, "doser", now, now + timedelta(minutes=10), now + timedelta(hours=1))
        db.transition(s, exp.id, S.DISPATCHED, now)
        db.ack_step(s, step.id, now)  # recorded as acknowledged, but the device never ran it (it was reset)
        db.transition(s, exp.id, S.RUNNING, now)
    assert engine.run() == "failed"  # its only experiment was lost: the campaign gave no result
    with store.session() as s:
        (lost,) = db.list_experiments(s, engine.campaign_id)
        assert lost.state == S.LOST and "no record" in lost.reason
        kinds = [e.kind for e in db.list_events(s, engine.campaign_id)]
        assert "experiment_lost" in kinds and "campaign_failed" in kinds
    assert rig.lab.devices["doser"].starts == 0


def test_a_command_the_instrument_refuses_is_lost_once_not_retried_for_ever(store: db.Store, rig: Rig) -> None:
    engine = new_engine(store, rig, experiments=1)
    engine._propose()
    with store.session() as s:
        exp = db.list_experiments(s, engine.campaign_id)[0]
        steps = db.list_steps(s, exp.id)
    anneal = [st for st in steps if st.name == "anneal"][0]
    with store.engine.begin() as conn:  # a dwell the furnace driver refuses (below its 0.5 h minimum)
        from sqlalchemy import text
        command = dict(anneal.command, dwell_h=0.2)
        conn.execute(text("UPDATE steps SET command = :c WHERE id = :i"), {"c": __import__("json").dumps(command), "i": anneal.id})
    assert engine.run() == "failed"  # every experiment (the one) refused: never "completed"
    with store.session() as s:
        (lost,) = db.list_experiments(s, engine.campaign_id)
        assert lost.state == S.LOST and "refused" in lost.reason and "dwell" in lost.reason
        assert [st.attempts for st in db.list_steps(s, lost.id) if st.name == "anneal"] == [1]
    assert sum(rig.lab.devices[f"furnace-{i}"].starts for i in range(1, 5)) == 0


def test_a_crash_between_aborting_a_job_and_recording_its_loss_still_loses_it(store: db.Store, rig: Rig) -> None:
    from flows.campaign import instrument_calls as calls

    engine = new_engine(store, rig, experiments=1)
    for _ in range(50):  # run until the anneal is acknowledged on a furnace
        engine.tick()
        with store.session() as s:
            anneal = [st for st in db.step_history(s) if st.name == "anneal" and st.state == "acked"]
        if anneal:
            break
        engine.wait()
    (step,) = anneal
    with store.session() as s:  # the engine gives the job up: mark, abort, release ... and dies there
        db.mark_abandoning(s, step.id, rig.clock.now(), "deadline passed (test)")
    furnace = rig.instruments[step.instrument]
    calls.call(furnace.abort)
    calls.release(furnace, step.idempotency_key)
    assert engine_for(store, rig, engine.campaign_id).run() == "failed"
    with store.session() as s:
        (exp,) = db.list_experiments(s, engine.campaign_id)
        assert exp.state == S.LOST and exp.reason == "deadline passed (test)"
        assert not [m for m in db.load_measurements(s, exp.id) if m.name == "temperature_log"]
