"""Deferred and immediate pause on a simulated lab: what goes on, what waits, and where each sample is left."""

from __future__ import annotations

from typer.testing import CliRunner

import db
from flows.campaign import control
from flows.campaign.engine import CampaignEngine
from flows.campaign.pause import whereabouts
from flows.campaign.report import summarise
from flows.cli.app import app
from lab.experiment import ExperimentState
from tests.flows.campaign.test_control import engine, queue, spec_text, start, states

S = ExperimentState
runner = CliRunner()


def run_until_started(eng: CampaignEngine, started: int) -> None:
    """Tick until at least ``started`` experiments have a step dispatched, and some step is in flight."""
    for _ in range(20):
        eng.tick()
        with eng.store.session() as s:
            going = db.list_experiments(s, eng.campaign_id, states=[S.DISPATCHED, S.RUNNING])
            flying = db.open_steps(s, eng.campaign_id)
        if len(going) >= started and flying:
            return
        eng.wait()
    raise AssertionError(f"fewer than {started} experiments started")


def tick_while_paused(eng: CampaignEngine, rounds: int = 40) -> None:
    """Tick a paused campaign until nothing is in flight any more."""
    for _ in range(rounds):
        assert eng.tick() == "paused"
        with eng.store.session() as s:
            if not db.open_steps(s, eng.campaign_id):
                return
        eng.wait()
    raise AssertionError("steps still in flight")


def test_a_deferred_pause_finishes_started_experiments_and_starts_none(store: db.Store, rig) -> None:
    cid, _ = queue(store, spec_text(6))
    eng = engine(store, cid, rig)
    start(eng)
    run_until_started(eng, 2)
    control.pause(store, cid, rig.clock.now())
    with store.session() as s:
        assert db.get_campaign(s, cid).pause_mode == "deferred"
        started = {e.id for e in db.list_experiments(s, cid, states=[S.DISPATCHED, S.RUNNING])}
        waiting = {e.id: e.sample_id for e in db.list_experiments(s, cid, states=[S.PROPOSED])}
        decisions = len(db.list_decisions(s, cid))
    assert waiting and summarise(store, cid, rig.clock.now()).status == "paused (deferred: started experiments finish)"
    lines = whereabouts(store, cid)
    assert [line for line in lines if line.endswith("proposed, not started")] == \
        [f"{sample} proposed, not started" for sample in waiting.values()]
    for _ in range(60):  # every started experiment goes through all its steps, one after the other
        assert eng.tick() == "paused"
        with store.session() as s:
            if all(db.get_experiment(s, i).state == S.REWARDED for i in started):
                break
        eng.wait()
    with store.session() as s:
        assert all(db.get_experiment(s, i).state == S.REWARDED for i in started)
        assert all(db.get_experiment(s, i).state == S.PROPOSED for i in waiting)
        assert all(st.intent_at is None for i in waiting for st in db.list_steps(s, i))  # none of them started
        assert len(db.list_decisions(s, cid)) == decisions  # and nothing new was proposed
    assert whereabouts(store, cid) == [f"{sample} proposed, not started" for sample in waiting.values()]
    assert control.resume(store, cid, rig.clock.now()) == "running"
    with store.session() as s:
        assert db.get_campaign(s, cid).pause_mode is None
    assert eng.run() == "completed"
    assert states(store, cid) == {"rewarded": 6}


def test_pause_now_sends_no_new_step_and_says_where_each_sample_waits(store: db.Store, rig) -> None:
    cid, _ = queue(store, spec_text(6))
    eng = engine(store, cid, rig)
    start(eng)
    run_until_started(eng, 2)
    paused_at = rig.clock.now()
    result = runner.invoke(app, ["pause", str(cid), "--now", "--db", store.url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"campaign {cid} is now paused (now: no new step starts)" in out
    with store.session() as s:
        intents = db.list_intents(s, [cid])
        flying = db.open_steps(s, cid)
        unstarted = [e.sample_id for e in db.list_experiments(s, cid, states=[S.PROPOSED])]
    assert flying and all(f"{st.sample_id} on {st.instrument} ({st.name} in flight" in out for st in flying)
    assert all(f"{sample} proposed, not started" in out for sample in unstarted)
    tick_while_paused(eng)
    with store.session() as s:
        after = db.list_intents(s, [cid])
    assert after == intents and all(i.at <= paused_at for i in after)  # not one intent since the pause
    lines = whereabouts(store, cid)
    held = [line for line in lines if "waiting for" in line]
    assert held and all(line.endswith("(held until resume)") for line in held)  # e.g. "C1-E2 dosed, waiting for anneal on ..."
    assert not any("in flight" in line for line in lines)
    result = runner.invoke(app, ["status", str(cid), "--db", store.url])
    assert result.exit_code == 0 and "paused (now: no new step starts)" in " ".join(result.output.split())
    assert runner.invoke(app, ["pause", str(cid), "--now", "--db", store.url]).exit_code == 2  # already paused so
    result = runner.invoke(app, ["resume", str(cid), "--db", store.url])
    assert result.exit_code == 0 and f"campaign {cid} is now running" in result.output
    assert eng.run() == "completed"
    assert states(store, cid) == {"rewarded": 6}
