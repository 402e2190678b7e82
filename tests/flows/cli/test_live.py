"""Following campaigns live: `lab worker` prints a line per event, `lab status --watch` follows a
campaign another thread runs and stops when it ends, a bad notify file is one clear line."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import db
from flows.campaign.lease import WorkerLease
from flows.campaign.runtime import simulated_rig
from flows.campaign.worker import Worker
from flows.cli.app import app
from lab.clock import DEFAULT_SIM_START
from lab.spec import InstrumentsSpec, example_path
from tests.flows.campaign.notify_endpoint import hook_server

runner = CliRunner()


def spec_file(tmp_path: Path, experiments: int = 4, name: str = "live-one") -> Path:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', 'name = "sobol"')
    text = re.sub(r"hours = \d+", "hours = 100000", text, count=1)
    text = re.sub(r'^name = "[^"]*"', f'name = "{name}"', text, count=1, flags=re.M)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def queue(url: str, spec: Path) -> int:
    result = runner.invoke(app, ["queue", str(spec), "--db", url])
    assert result.exit_code == 0, result.output
    return int(result.output.strip().splitlines()[-1])


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return f"sqlite:///{tmp_path / 'lab.db'}"


def test_worker_prints_each_event_and_notifies_once(prefect_harness: None, url: str, tmp_path: Path) -> None:
    cid = queue(url, spec_file(tmp_path, 4, "live-worker"))
    with hook_server() as hook:
        notify = hook.config(tmp_path, ["campaign_finished"])
        result = runner.invoke(app, ["worker", "--db", url, "--once", "--name", "w-live", "--notify", str(notify)])
        assert result.exit_code == 0, result.output
        out = result.output
        assert "json://***" in out and "127.0.0.1" not in out  # the apprise URL is never printed
        assert f"campaign {cid} (live-worker) claimed by worker w-live" in out
        assert f"campaign {cid} (live-worker): decision 0, sobol" in out
        assert len(re.findall(rf"C{cid}-E\d+ (rewarded|failed)", out)) == 4, out
        assert f"campaign {cid} (live-worker) completed: 4 experiment(s) with a result" in out
        (message,) = hook.messages()
        assert "campaign finished" in message and "live-worker" in message
    quiet = runner.invoke(app, ["worker", "--db", url, "--once", "--name", "w-live", "--quiet"])
    assert quiet.exit_code == 0 and "claimed by" not in quiet.output
    # watching a campaign that already ended: its last events, its summary, and the watch ends by itself
    watched = runner.invoke(app, ["status", str(cid), "--watch", "--interval", "0.1", "--db", url])
    assert watched.exit_code == 0, watched.output
    assert f"campaign {cid} (live-worker) completed" in watched.output and "best result" in watched.output, watched.output
    everything = runner.invoke(app, ["status", "--watch", "--until-done", "--interval", "0.1", "--db", url])
    assert everything.exit_code == 0 and "no campaign is queued, running or paused" in everything.output


def test_status_watch_follows_a_running_campaign_until_it_ends(prefect_harness: None, url: str, tmp_path: Path) -> None:
    cid = queue(url, spec_file(tmp_path, 5, "live-watched"))
    store = db.open_store(url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with simulated_rig(InstrumentsSpec(), seed=3, start=DEFAULT_SIM_START) as rig, \
                    WorkerLease(store, "w-thread", lease_s=60.0) as lease:
                Worker(store, rig, lease).run(once=True)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        result = runner.invoke(app, ["status", str(cid), "--watch", "--interval", "0.1", "--db", url])
    finally:
        worker.join(timeout=300)
        store.dispose()
    assert not errors, errors
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"campaign {cid} (live-watched) claimed by worker w-thread" in out
    assert len(re.findall(rf"C{cid}-E\d+ (rewarded|failed)", out)) == 5, out
    assert re.search(rf"campaign {cid} \(live-watched\): running, \d/5 finished", out), out
    assert f"campaign {cid} (live-watched) completed" in out
    samples = re.findall(rf"(C{cid}-E\d+) (?:rewarded|failed)", out)
    assert len(samples) == len(set(samples)), out  # each result printed once


@pytest.mark.parametrize("body, words", [
    ('urls = ["tgram://SECRET-TOKEN"]\n', "urls[0] (tgram://***): not a URL apprise can send to"),
    ('urls = ["json://127.0.0.1:1/x"]\non = ["campaign_done"]\n', "on: unknown kind 'campaign_done'"),
    ('urls = ["json://127.0.0.1:1/x"]\nstalled_after_hours = -1\n', "stalled_after_hours: expected a number of hours > 0"),
    ('urls = []\nsend = true\n', "send: unknown key"),
    ('urls = [\n', "not valid TOML"),
])
def test_a_bad_notify_file_is_one_clear_line(url: str, tmp_path: Path, body: str, words: str) -> None:
    path = tmp_path / "notify.toml"
    path.write_text(body, encoding="utf-8")
    result = runner.invoke(app, ["worker", "--db", url, "--once", "--notify", str(path)])
    assert result.exit_code == 2, result.output
    assert words in result.output and "SECRET" not in result.output and str(path) in result.output
    assert "Traceback" not in result.output
