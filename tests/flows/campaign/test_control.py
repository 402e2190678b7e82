"""Pause, resume, cancel, approve, relabel and several campaigns sharing the lab, on a simulated clock.

Deferred pause and batch-by-batch review: ``test_pause.py``, ``test_review.py``.
"""

from __future__ import annotations

import pytest

import db
from flows.campaign import control
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.runtime import Rig
from lab.clock import DEFAULT_SIM_START
from lab.experiment import TERMINAL_STATES, ExperimentState
from lab.reward import RewardDefinition, RewardTerm
from lab.spec import CampaignSpec, example_path, parse_spec
from policies.registry import make_policy

S = ExperimentState


def spec_text(experiments: int, approval: bool = False) -> str:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', 'name = "sobol"')
    return text.replace("batch_size = 4", "batch_size = 4\napproval_required = true") if approval else text


def queue(store: db.Store, text: str) -> tuple[int, CampaignSpec]:
    spec = parse_spec(text)
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), approval_required=spec.approval_required,
                                 at=DEFAULT_SIM_START)
    return cid, spec


def engine(store: db.Store, cid: int, rig: Rig) -> CampaignEngine:
    return CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy("sobol"),
                          EngineSettings(poll_interval_s=3600.0), worker_id="test")


def start(eng: CampaignEngine) -> None:
    with eng.store.session() as s:
        db.set_campaign_status(s, eng.campaign_id, "running", eng.clock.now())


def steps_started(store: db.Store, cid: int) -> int:
    with store.session() as s:
        return sum(st.intent_at is not None for st in db.step_history(s, cid))


def states(store: db.Store, cid: int) -> dict[str, int]:
    with store.session() as s:
        return {k: v for k, v in db.count_by_state(s, cid).items() if v}


def test_pause_now_collects_results_but_dispatches_nothing_then_resume_finishes(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(6))
    eng = engine(store, cid, rig)
    start(eng)
    for _ in range(3):
        eng.tick()
        eng.wait()
    assert control.pause(store, cid, rig.clock.now(), now=True) == "paused"
    before = steps_started(store, cid)
    with store.session() as s:
        open_before = len(db.open_steps(s, cid))
    assert open_before > 0
    for _ in range(10):
        assert eng.tick() == "paused"
        rig.clock.advance(4 * 3600)
    assert steps_started(store, cid) == before  # nothing new went out
    with store.session() as s:
        assert len(db.open_steps(s, cid)) == 0  # but everything in flight was collected
    assert control.resume(store, cid, rig.clock.now()) == "running"
    assert eng.run() == "completed"
    assert states(store, cid) == {"rewarded": 6}


def test_cancel_lets_started_experiments_finish_and_cancels_the_rest(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(12))
    eng = engine(store, cid, rig)
    start(eng)
    eng.tick()
    with store.session() as s:
        started = {e.id for e in db.list_experiments(s, cid, states=[S.DISPATCHED, S.RUNNING])}
    assert started
    control.cancel(store, cid, rig.clock.now())
    assert eng.run() == "cancelled"
    with store.session() as s:
        experiments = db.list_experiments(s, cid)
        assert db.get_campaign(s, cid).status == "cancelled"
    assert all(e.state in TERMINAL_STATES for e in experiments)
    assert {e.id for e in experiments if e.state == S.REWARDED} == started
    assert all(e.state == S.CANCELLED for e in experiments if e.id not in started)
    assert len(experiments) < 12


def test_batches_wait_for_approval(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(4, approval=True))
    eng = engine(store, cid, rig)
    start(eng)
    for _ in range(3):
        eng.tick()
    assert steps_started(store, cid) == 0
    assert states(store, cid) == {"proposed": 4}
    assert len(control.approve(store, cid, rig.clock.now())) == 1
    assert eng.run() == "completed"
    assert states(store, cid) == {"rewarded": 4}


def test_relabel_keeps_old_rewards_and_reports_either_version(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(4))
    eng = engine(store, cid, rig)
    assert eng.run() == "completed"
    v2 = RewardDefinition("v2", (RewardTerm("target_fraction", 1.0), RewardTerm("unreacted_fraction", 2.0)), -1.0)
    result = control.relabel(store, cid, v2, rig.clock.now())
    assert (result.rewarded, result.active) == (4, False)
    with store.session() as s:
        old = db.rewards_for(s, cid, "v1")
        new = db.rewards_for(s, cid, "v2")
        assert set(old) == set(new) and len(new) == 4
        for eid, value in new.items():
            obj = db.latest_objectives(s, eid)
            assert value == pytest.approx(obj["target_fraction"] - 2.0 * obj["unreacted_fraction"])
            assert old[eid] == pytest.approx(obj["target_fraction"])
        assert db.get_campaign(s, cid).reward_version == "v1"
    control.relabel(store, cid, v2, rig.clock.now(), activate=True)
    with store.session() as s:
        state = db.load_state(s, cid, now=rig.clock.now())
        assert {o.experiment_id: o.reward for o in state.observations} == pytest.approx(new)


def test_control_refuses_what_does_not_apply(store: db.Store, rig: Rig) -> None:
    cid, _ = queue(store, spec_text(4))
    with pytest.raises(control.CampaignControlError, match="only paused"):
        control.resume(store, cid, rig.clock.now())
    control.cancel(store, cid, rig.clock.now())
    with pytest.raises(control.CampaignControlError, match="is cancelled"):
        control.pause(store, cid, rig.clock.now())


def test_two_campaigns_share_the_lab_without_double_booking(store: db.Store, rig: Rig, run_worker) -> None:
    a, _ = queue(store, spec_text(5))
    b, _ = queue(store, spec_text(5))
    finished = run_worker(store, rig, "w1", max_campaigns=2)
    assert sorted(finished) == [(a, "completed"), (b, "completed")]
    with store.session() as s:
        steps = [st for st in db.step_history(s) if st.acked_at is not None]
    assert {st.campaign_id for st in steps} == {a, b}
    by_instrument: dict[str, list] = {}
    for st in steps:
        by_instrument.setdefault(st.instrument, []).append((st.intent_at, st.done_at))
    for name, spans in by_instrument.items():
        spans.sort()
        for (_, end), (begin, _) in zip(spans, spans[1:]):
            assert begin >= end, f"{name} held two jobs at once"
    assert states(store, a) == {"rewarded": 5} and states(store, b) == {"rewarded": 5}


def test_a_campaign_naming_instruments_the_lab_lacks_fails_without_blocking_the_queue(store: db.Store, rig: Rig,
                                                                                     run_worker) -> None:
    bad, _ = queue(store, spec_text(2).replace('furnaces = ["furnace-1"', 'furnaces = ["furnace-9"'))
    good, _ = queue(store, spec_text(2))
    finished = run_worker(store, rig, "w1", max_campaigns=2)
    assert sorted(finished) == [(bad, "failed"), (good, "completed")]
    with store.session() as s:
        (event,) = [e for e in db.list_events(s, bad) if e.kind == "campaign_failed"]
    assert "MissingInstruments" in event.message and "furnace-9" in event.message
