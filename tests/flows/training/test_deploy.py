"""`lab deploy` on a real Prefect server (`lab server` on loopback), and the training deployment run
by a real `prefect worker start --pool training` process that publishes to the shared store.

Deploying creates the `instruments` and `training` pools (type process) and three deployments whose
entrypoints are module paths of this package, run from the folder it is installed from; a second
`lab deploy` changes nothing (same ids, nothing rewritten). A flow run of `rl-train/lab-train`
with a tiny config, picked up by the training worker as a subprocess, trains on `device="auto"`
(CPU here, CUDA where present) and publishes a policy version to the PostgreSQL store named by
its handle (no password), with the device named in its metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import db
from flows.campaign.policy_source import RL_POLICY
from flows.cli.app import app
from tests.flows.cli.test_ui import free_port, healthy, post

ROOT = Path(__file__).resolve().parents[3]
MICRO = """
name = "micro"
envs = 2
candidates = 16
horizon = 4
imitation_iterations = 1
imitation_epochs = 1
ppo_iterations = 1
eval_every = 1
eval_tasks = 2
checkpoint_every = 1
hidden = 8
layers = 1
dims_high = 3
world_fraction = 0.0
pool_fraction = 0.0
gp_steps = 3
warm_steps = 1
trees = 4
"""
ENTRYPOINTS = {"worker/lab-worker": ("instruments", "flows.campaign.worker:worker_flow"),
               "rl-update/lab-update": ("training", "flows.training.update_flow:update_flow"),
               "rl-train/lab-train": ("training", "flows.training.train_flow:train_flow")}


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"LAB_HOME": str(home), "PYTHONPATH": str(ROOT)})
    return env


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `lab server` on loopback (Prefect's SQLite file in a temporary LAB_HOME); its API URL."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    out = home / "server.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli.app", "server", "--port", str(port)], env=clean_env(home),
                                cwd=str(home), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "ready:" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, "lab server did not answer in 240 s"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def deployments(api: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(post(f"{api}/deployments/filter", {"limit": 50, "offset": 0}))
    flows = {f["id"]: f["name"] for f in json.loads(post(f"{api}/flows/filter", {"limit": 50, "offset": 0}))}
    return {f"{flows[r['flow_id']]}/{r['name']}": r for r in rows}


def test_deploy_creates_the_pools_and_deployments_and_a_second_run_changes_nothing(api: str) -> None:
    first = CliRunner().invoke(app, ["deploy", "--api", api])
    assert first.exit_code == 0, first.output
    for pool in ("instruments", "training"):
        found = get(f"{api}/work_pools/{pool}")
        assert found["type"] == "process" and found["base_job_template"], found  # a process worker's template
    made = deployments(api)
    assert set(made) == set(ENTRYPOINTS)
    for name, (pool, entrypoint) in ENTRYPOINTS.items():
        row = made[name]
        assert (row["work_pool_name"], row["entrypoint"]) == (pool, entrypoint)
        assert row["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
        assert row["parameters"] == {}  # no --db: each host's own default store
    assert first.output.count("created") == 3

    again = CliRunner().invoke(app, ["deploy", "--api", api])
    assert again.exit_code == 0, again.output
    assert again.output.count("unchanged") == 3 and "created" not in again.output
    after = deployments(api)
    assert {k: (v["id"], v["updated"]) for k, v in after.items()} == {k: (v["id"], v["updated"]) for k, v in made.items()}
    assert len(json.loads(post(f"{api}/work_pools/filter", {"limit": 50, "offset": 0}))) == 2


def test_deploy_without_a_server_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/api"
    result = CliRunner().invoke(app, ["deploy", "--api", nobody])
    assert result.exit_code == 2 and f"no Prefect server answers at {nobody}" in result.output, result.output
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # never Prefect's temporary server: it would vanish at exit
    unnamed = CliRunner().invoke(app, ["deploy"])
    assert unnamed.exit_code == 2 and "no Prefect server named" in unnamed.output and "lab server" in unnamed.output


@pytest.mark.postgres
def test_the_training_deployment_runs_on_a_training_worker_and_publishes_to_the_store(
        api: str, postgres_url: str, tmp_path: Path) -> None:
    handle = db.store_handle(postgres_url)
    deployed = CliRunner().invoke(app, ["deploy", "--api", api, "--db", postgres_url])
    assert deployed.exit_code == 0, deployed.output
    train = deployments(api)["rl-train/lab-train"]
    assert train["parameters"] == {"store": handle}
    (tmp_path / "micro.toml").write_text(MICRO)
    env = {**clean_env(tmp_path), "PREFECT_API_URL": api, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    out = tmp_path / "worker.out"
    with open(out, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "training",
                                   "--type", "process", "--name", "gpu-box"], env=env, cwd=str(tmp_path),
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run = json.loads(post(f"{api}/deployments/{train['id']}/create_flow_run",
                              {"parameters": {"config": str(tmp_path / "micro.toml")}}))
        deadline = time.monotonic() + 240
        while (state := get(f"{api}/flow_runs/{run['id']}"))["state_type"] not in ("COMPLETED", "FAILED", "CRASHED"):
            assert worker.poll() is None, out.read_text()
            assert time.monotonic() < deadline, f"the training run did not finish in 240 s: {state['state_type']}"
            time.sleep(1)
        assert state["state_type"] == "COMPLETED", out.read_text()[-3000:]
        assert state["parameters"] == {"store": handle, "config": str(tmp_path / "micro.toml")}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert "gpu-box" in out.read_text()
    store = db.open_store(postgres_url)
    try:
        with store.session() as s:
            newest = db.latest_policy_version(s, RL_POLICY)
    finally:
        store.dispose()
    assert newest is not None
    assert newest.metrics["device"].startswith(("cpu", "cuda")) and newest.metrics["env_steps"] > 0
    assert Path(newest.metrics["run_dir"]).parent == tmp_path / "runs"  # the worker's LAB_HOME, a fresh run folder
    artifacts = json.loads(post(f"{api}/artifacts/filter", {"artifacts": {"key": {"any_": ["rl-train"]}}, "limit": 5}))
    assert artifacts and newest.version in artifacts[0]["data"] and newest.metrics["device"] in artifacts[0]["data"]
    assert healthy(f"{api}/health")
