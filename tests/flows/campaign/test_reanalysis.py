"""`lab relabel --analysis`: stored patterns fitted again as a new analysis version that every reader uses.

One small simulated campaign (sobol, 5 experiments) runs to completion once into a SQLite file;
each test works on its own copy of that file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import db
from flows.campaign import control
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.reanalysis import reanalyse
from flows.campaign.runtime import simulated_rig
from flows.cli.app import app
from flows.errors import CampaignControlError, UsageError
from lab.clock import DEFAULT_SIM_START
from lab.diffraction import PHASES
from lab.experiment import ExperimentState
from lab.phase_analysis import estimate_phases
from lab.spec import InstrumentsSpec, example_path, parse_spec
from policies.registry import make_policy

S = ExperimentState
AT = DEFAULT_SIM_START.replace(year=DEFAULT_SIM_START.year + 1)
FEW = ("BaTiO3", "BaCO3", "TiO2")
runner = CliRunner()


def spec_text(experiments: int) -> str:
    text = example_path("batio3").read_text(encoding="utf-8")
    return text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', 'name = "sobol"')


def queue(store: db.Store, experiments: int) -> int:
    text = spec_text(experiments)
    spec = parse_spec(text)
    with store.session() as s:
        return db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                  reward=spec.reward_definition(), at=DEFAULT_SIM_START)


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Path:
    """A SQLite file holding campaign 1, completed on the simulated lab."""
    path = tmp_path_factory.mktemp("reanalysis") / "lab.db"
    store = db.open_store(f"sqlite:///{path}")
    cid = queue(store, 5)
    with simulated_rig(InstrumentsSpec(), seed=3, start=DEFAULT_SIM_START) as rig:
        engine = CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy("sobol"),
                                EngineSettings(poll_interval_s=3600.0), worker_id="test")
        assert engine.run() == "completed"
    store.dispose()
    return path


@pytest.fixture
def url(finished_db: Path, tmp_path: Path) -> str:
    shutil.copy(finished_db, tmp_path / "lab.db")
    return f"sqlite:///{tmp_path / 'lab.db'}"


@pytest.fixture
def store(url: str) -> Iterator[db.Store]:
    s = db.open_store(url)
    yield s
    s.dispose()


def measured(store: db.Store) -> list[db.ExperimentInfo]:
    with store.session() as s:
        return [e for e in db.list_experiments(s, 1) if e.state is S.REWARDED]


def test_same_settings_make_a_new_version_with_the_same_numbers(store: db.Store) -> None:
    experiments = measured(store)
    assert len(experiments) >= 4
    result = reanalyse(store, 1, AT)
    assert result.version == 2 and result.phases == PHASES and result.reward_version == "v1"
    assert [e.experiment_id for e in result.experiments] == [e.id for e in experiments]
    assert result.moved == 0 and result.largest is None and "no objective changed" in result.summary()
    with store.session() as s:
        for e in experiments:
            versions = db.list_analyses(s, e.id)
            assert [a.version for a in versions] == [1, 2]
            assert versions[0].objectives == versions[1].objectives
            assert versions[1].detail["phases"] == list(PHASES)
        [event] = [ev for ev in db.list_events(s, 1) if ev.kind == "reanalysis"]
        assert event.detail["version"] == 2 and event.detail["moved"] == {}


def test_fewer_phases_move_objectives_and_the_policy_sees_the_new_version(store: db.Store) -> None:
    experiments = measured(store)
    with store.session() as s:
        before = {e.id: db.latest_objectives(s, e.id) for e in experiments}
        old_rewards = db.rewards_for(s, 1, "v1")
    result = reanalyse(store, 1, AT, phases=FEW)
    assert result.version == 2 and result.moved >= 1
    sample, objective, delta = result.largest
    assert abs(delta) > 0 and objective in before[experiments[0].id]
    with store.session() as s:
        latest = db.latest_analyses(s, 1)
        rewards = db.rewards_for(s, 1, "v1")
        state = db.load_state(s, 1, now=AT)
        for e in experiments:
            [pattern] = db.load_measurements(s, e.id, name="xrd_pattern")
            grid = pattern.array()
            expected = estimate_phases(grid[:, 0], grid[:, 1], FEW)
            assert latest[e.id].version == 2 and latest[e.id].objectives["target_fraction"] == expected.target_fraction()
            assert [a.objectives for a in db.list_analyses(s, e.id)][0] == before[e.id]  # the old row is kept
            assert rewards[e.id] == pytest.approx(latest[e.id].objectives["target_fraction"])  # v1: target fraction
        [event] = [ev for ev in db.list_events(s, 1) if ev.kind == "reanalysis"]
    seen = {o.experiment_id: o for o in state.observations}
    for e in experiments:
        assert seen[e.id].objectives == latest[e.id].objectives
        assert seen[e.id].reward == rewards[e.id]
    assert any(rewards[i] != old_rewards[i] for i in rewards)
    assert event.detail["phases"] == list(FEW) and sample in event.detail["moved"]
    assert event.detail["rewards"][sample] == [old_rewards[next(e.id for e in experiments if e.sample_id == sample)],
                                               rewards[next(e.id for e in experiments if e.sample_id == sample)]]
    again = reanalyse(store, 1, AT)  # back to every phase: version 3, and the numbers of version 1
    assert again.version == 3
    with store.session() as s:
        assert {e.id: db.latest_objectives(s, e.id) for e in experiments} == before


def test_a_reward_relabel_after_it_reads_the_latest_analysis(store: db.Store) -> None:
    reanalyse(store, 1, AT, phases=FEW)
    from lab.reward import RewardDefinition, RewardTerm
    v2 = RewardDefinition("v2", (RewardTerm("target_fraction", 1.0), RewardTerm("fit_residual", 1.0)), -1.0)
    control.relabel(store, 1, v2, AT)
    with store.session() as s:
        latest = db.latest_analyses(s, 1)
        for eid, value in db.rewards_for(s, 1, "v2").items():
            obj = latest[eid].objectives
            assert value == pytest.approx(obj["target_fraction"] - obj["fit_residual"])


def test_campaigns_that_may_be_analysing_are_refused(store: db.Store) -> None:
    cid = queue(store, 4)
    with pytest.raises(CampaignControlError, match="is queued; only completed"):
        reanalyse(store, cid, AT)
    with store.session() as s:
        db.set_campaign_status(s, cid, "running", AT)
    with pytest.raises(CampaignControlError, match="is running"):
        reanalyse(store, cid, AT)
    with store.session() as s:
        [eid] = db.record_decision(s, cid, [_proposal()], pending_ids=[], made_at=AT, expected_completion=None,
                                   deadline=None)
        db.transition(s, eid, S.DISPATCHED, AT)
        db.set_campaign_status(s, cid, "paused", AT)
    with pytest.raises(CampaignControlError, match="1 experiments in flight"):
        reanalyse(store, cid, AT)
    with store.session() as s:
        assert db.max_analysis_version(s, 1) == 1  # nothing was written anywhere


def _proposal():
    from lab.experiment import Proposal
    return Proposal({"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 1000.0, "dwell_h": 4, "atmosphere": "air"},
                    "sobol", "1")


@pytest.mark.parametrize(("phases", "words"), [
    (("BaTiO3", "Quartz"), "unknown phase 'Quartz'"),
    (("BaTiO3", "BaTiO3"), "distinct"),
    (("BaCO3", "TiO2"), "target phase BaTiO3 must be among"),
])
def test_bad_phases_are_refused_before_anything_is_stored(store: db.Store, phases: tuple[str, ...], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        reanalyse(store, 1, AT, phases=phases)
    with store.session() as s:
        assert db.max_analysis_version(s, 1) == 1


def test_cli_prints_the_table_and_what_changed(url: str) -> None:
    result = runner.invoke(app, ["relabel", "1", "--analysis", "--phases", ",".join(FEW), "--db", url])
    assert result.exit_code == 0, result.output
    assert "Analysis version 2" in result.output and "target_fraction" in result.output
    assert "objectives moved in" in result.output and "largest" in result.output
    bad = runner.invoke(app, ["relabel", "1", "--analysis", "--phases", "BaTiO3,Quartz", "--db", url])
    assert bad.exit_code == 2 and "unknown phase 'Quartz'" in bad.output and "Traceback" not in bad.output
    neither = runner.invoke(app, ["relabel", "1", "--db", url])
    assert neither.exit_code == 2 and "give --reward FILE" in neither.output
