"""The RL policy's life: `lab train` publishes a version, a campaign runs it through the engine,
`lab update` learns from that campaign's delayed rewards through the gate.

Also: importance ratios are computed against the version that made each decision when the
version changed in the middle of a campaign, and a rejected update leaves the store untouched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from prefect import flow
from typer.testing import CliRunner

import db
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.policy_source import RL_POLICY, build_policy, load_rl_bundle
from flows.campaign.runtime import simulated_rig
from flows.cli.app import app
from flows.training.update import UpdateSettings, collect_transitions, run_update
from flows.training.update_flow import matured_since_publication, update_flow
from lab.clock import DEFAULT_SIM_START
from lab.spec import CampaignSpec, example_path, parse_spec
from policies.rl.checkpoint import PolicyBundle
from policies.rl.evidence import FEATURE_SET
from policies.rl.network import AcquisitionNet
from policies.rl.policy import RLPolicy, pick_log_probs
from policies.rl.shipped import shipped_bundle

TINY = """
name = "tiny"
envs = 6
candidates = 48
horizon = 10
imitation_iterations = 2
imitation_epochs = 2
ppo_iterations = 2
eval_every = 2
eval_tasks = 6
checkpoint_every = 1
hidden = 16
layers = 1
world_variants = 2
world_candidates = 96
pool_fraction = 0.0
gp_steps = 10
trees = 8
"""
FAST_GATE = dict(min_picks=2, suite_tasks=8, suite_horizon=8)


def rl_spec(experiments: int, options: str = "") -> tuple[str, CampaignSpec]:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}")
    text = text.replace('name = "rl"', f'name = "rl"\noptions = {{ {options} }}')
    return text, parse_spec(text)


def queue(store: db.Store, text: str, spec: CampaignSpec) -> int:
    with store.session() as s:
        return db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                  reward=spec.reward_definition(), at=DEFAULT_SIM_START)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A tiny policy trained by `lab train` into a fresh store: (database path, version)."""
    root = tmp_path_factory.mktemp("rl")
    (root / "tiny.toml").write_text(TINY)
    url = f"sqlite:///{root / 'lab.db'}"
    result = CliRunner().invoke(app, ["train", "--config", str(root / "tiny.toml"), "--run-dir", str(root / "run"),
                                      "--db", url, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "published rl version" in result.output
    run = json.loads((root / "run" / "run.json").read_text())
    assert run["completed_iterations"] == run["planned_iterations"] == 4
    return root / "lab.db", run["policy_version"]


def copy_store(trained: tuple[Path, str], tmp_path: Path) -> str:
    target = tmp_path / "lab.db"
    target.write_bytes(trained[0].read_bytes())
    return f"sqlite:///{target}"


@flow(name="rl-campaign-on-a-test-rig")
def _run(store: db.Store, cid: int, spec: CampaignSpec, publish_after: int | None = None,
         new: PolicyBundle | None = None) -> str:
    """Run the campaign tick by tick; publish ``new`` once ``publish_after`` decisions exist."""
    with simulated_rig(spec, seed=spec.seed, start=DEFAULT_SIM_START) as rig:
        policy = build_policy(spec.policy.name, spec.policy.options, store)
        engine = CampaignEngine(store, cid, rig.instruments, rig.clock, policy, EngineSettings(poll_interval_s=3600.0))
        with store.session() as s:
            db.set_campaign_status(s, cid, "running", rig.clock.now())
        while True:
            status = engine.tick()
            if status == "completed":
                return status
            if new is not None and publish_after is not None:
                with store.session() as s:
                    if len(db.list_decisions(s, cid)) >= publish_after and db.latest_policy_version(s, RL_POLICY).version != new.version:
                        db.store_policy_version(s, RL_POLICY, new.version, new.weights, new.config, at=rig.clock.now())
            engine.wait()


def test_trained_policy_runs_a_campaign_and_is_updated_from_its_rewards_through_the_gate(prefect_harness: None, trained: tuple[Path, str],
                                                                         tmp_path: Path) -> None:
    url = copy_store(trained, tmp_path)
    store = db.open_store(url)
    try:
        text, spec = rl_spec(12, "guardrail = false")
        cid = queue(store, text, spec)
        assert _run(store, cid, spec) == "completed"
        with store.session() as s:
            decisions = db.list_decisions(s, cid)
            experiments = db.list_experiments(s, cid)
        assert {d.policy_version for d in decisions} == {trained[1]}
        by_net = [d for d in decisions if not any(d.fallbacks)]
        assert by_net, "every decision fell back; the network never proposed"
        assert all(d.log_prob < 0 for d in by_net)  # sampled picks carry their (negative) log-probability
        assert sum(e.state.value == "rewarded" for e in experiments) >= 8

        matured = matured_since_publication(store)
        assert matured == sum(e.state.value in ("rewarded", "failed") for e in experiments)
        assert update_flow(url, when_ready=matured + 1) is None  # not ready: nothing runs, nothing published
        rejected = run_update(store, settings=UpdateSettings(**FAST_GATE, min_ess_fraction=1.01))
        assert not rejected.accepted and rejected.new_version is None
        assert "ESS" in rejected.reason and "below" in rejected.reason
        with store.session() as s:
            assert [v.version for v in db.list_policy_versions(s, RL_POLICY)] == [trained[1]]  # nothing published
            assert "rejected" in [e for e in db.list_events(s) if e.kind == "policy_update"][-1].message

        report = run_update(store, campaign_id=cid, settings=UpdateSettings(**FAST_GATE, tolerance=1.0, min_ess_fraction=0.0))
        matured = sum(len(d.experiment_ids) for d in by_net)
        assert report.n_picks == matured - report.skipped["not_matured"] - report.skipped["not_replayable"]
        assert report.skipped["not_replayable"] == 0  # every state is rebuilt exactly from the ledger
        assert report.ess_running == pytest.approx(report.n_picks, rel=1e-4)  # same version: every ratio is 1
        assert report.accepted and report.new_version is not None
        with store.session() as s:
            newest = db.latest_policy_version(s, RL_POLICY)
        assert newest.version == report.new_version and newest.parent_version == trained[1]
        assert newest.metrics["n_picks"] == report.n_picks
        assert matured_since_publication(store) == 0  # those rewards are now behind the newest version
    finally:
        store.dispose()


def test_ratios_use_the_version_that_made_each_decision(prefect_harness: None, trained: tuple[Path, str],
                                                        tmp_path: Path) -> None:
    url = copy_store(trained, tmp_path)
    store = db.open_store(url)
    try:
        v1 = load_rl_bundle(store)
        torch.manual_seed(5)
        v2 = PolicyBundle.from_net(AcquisitionNet(16, 1), {k: v for k, v in v1.config.items() if k != "net"})
        text, spec = rl_spec(16, "guardrail = false")
        cid = queue(store, text, spec)
        _run(store, cid, spec, publish_after=6, new=v2)
        with store.session() as s:
            made_by = {d.id: d.policy_version for d in db.list_decisions(s, cid)}
        assert set(made_by.values()) == {v1.version, v2.version}, "the version did not change mid-campaign"

        running = RLPolicy.from_bundle(v2)
        transitions, _ = collect_transitions(store, running, cid)
        old = RLPolicy.from_bundle(v1)
        seen = set()
        with torch.no_grad():
            for t in transitions:
                new_logp = float(pick_log_probs(running.net, [t.pick])[0])
                ratio = math.exp(new_logp - t.logged_log_prob)
                seen.add(t.behaviour_version)
                if t.behaviour_version == v2.version:
                    assert ratio == pytest.approx(1.0, abs=1e-4)
                else:
                    assert t.behaviour_version == v1.version
                    old_logp = float(pick_log_probs(old.net, [t.pick])[0])
                    assert t.logged_log_prob == pytest.approx(old_logp, abs=1e-4)  # logged by v1, recomputed by v1
                    assert ratio == pytest.approx(math.exp(new_logp - old_logp), rel=1e-3)
        assert seen == {v1.version, v2.version}
    finally:
        store.dispose()


def test_train_refuses_to_overwrite_and_resumes_after_an_interruption(tmp_path: Path) -> None:
    from flows.errors import TrainingConfigError
    from flows.training.config import TrainConfig
    from flows.training.train import train

    cfg = TrainConfig.from_dict({**{k: v for k, v in _tiny_dict().items()}, "world_fraction": 0.0})

    class Stop(Exception):
        pass

    def interrupt(it: int, metrics: dict) -> None:
        if it == 3:
            raise Stop

    with pytest.raises(Stop):
        train(cfg, tmp_path / "run", on_iteration=interrupt)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["completed_iterations"] == 3
    with pytest.raises(TrainingConfigError, match="--resume"):
        train(cfg, tmp_path / "run")
    result = train(cfg, tmp_path / "run", resume=True)
    iterations = [json.loads(line)["iteration"] for line in (tmp_path / "run" / "curve.jsonl").read_text().splitlines()]
    assert iterations == sorted(set(iterations)) and iterations[-1] == cfg.planned_iterations
    assert PolicyBundle.load(result.policy_file).version == result.version


def _tiny_dict() -> dict:
    import tomllib

    return {k: v for k, v in tomllib.loads(TINY).items()}


def test_bad_training_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("envs = 0\nwat = 1\n")
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "bad.toml"), "--no-publish"])
    assert result.exit_code == 2
    assert "unknown key(s) ['wat']" in result.output


def test_policies_publishes_a_policy_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    bundle = PolicyBundle.from_net(AcquisitionNet(8, 1), {"trained_range": {"dims": [2, 7]}, "features": FEATURE_SET})
    bundle.save(tmp_path / "good.lab")
    (tmp_path / "bad.lab").write_bytes(b"LABRL1\n" + b"\x00" * 3)
    bad = CliRunner().invoke(app, ["policies", "--db", url, "--publish", str(tmp_path / "bad.lab")])
    assert bad.exit_code == 2 and "not an RL policy file" in bad.output
    PolicyBundle.from_net(AcquisitionNet(8, 1), {"features": "gp-iso-1"}).save(tmp_path / "old.lab")
    old = CliRunner().invoke(app, ["policies", "--db", url, "--publish", str(tmp_path / "old.lab")])
    assert old.exit_code == 2 and "retrain" in old.output
    fresh = CliRunner().invoke(app, ["policies", "--db", url])
    assert fresh.exit_code == 0 and shipped_bundle().version in fresh.output and "nothing is" in fresh.output
    good = CliRunner().invoke(app, ["policies", "--db", url, "--publish", str(tmp_path / "good.lab")])
    assert good.exit_code == 0 and bundle.version in good.output and shipped_bundle().version in good.output
    store = db.open_store(url)
    try:
        assert load_rl_bundle(store).version == bundle.version  # campaigns now run it
        with store.session() as s:
            assert len(db.list_policy_versions(s, RL_POLICY)) == 1  # the bad file left nothing behind
    finally:
        store.dispose()


def test_retraining_the_same_config_on_the_same_device_gives_the_same_policy(tmp_path: Path) -> None:
    from flows.training.config import TrainConfig
    from flows.training.train import train

    cfg = TrainConfig.from_dict({**_tiny_dict(), "world_fraction": 0.0, "ppo_iterations": 1})
    a = train(cfg, tmp_path / "a")
    b = train(cfg, tmp_path / "b")
    assert a.version == b.version and a.score == b.score  # seeded tasks, delays, trees and sampling
    assert (tmp_path / "a" / "policy_best.lab").exists() and json.loads((tmp_path / "a" / "teachers.json").read_text())
