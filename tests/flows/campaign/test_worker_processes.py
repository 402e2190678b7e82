"""``lab worker`` as real processes: one bad campaign fails alone, leases on the wall clock, a restart
takes its campaigns back at once, SIGTERM stops cleanly, a dropped database connection is survived.

Every worker is ``python -m flows.cli.app worker`` against one shared Prefect server, on the
simulated lab, with a real SQLite file or a real PostgreSQL database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import db
from flows.bench.crash_procs import prefect_api
from lab.clock import WallClock
from lab.spec import example_path, parse_spec

ROOT = Path(__file__).resolve().parents[3]


def spec_text(experiments: int, policy: str = 'name = "sobol"') -> str:
    text_ = example_path("batio3").read_text(encoding="utf-8")
    text_ = re.sub(r"experiments = \d+", f"experiments = {experiments}", text_, count=1)
    text_ = re.sub(r"hours = \d+", "hours = 100000", text_, count=1)
    return re.sub(r'\[policy\]\n(#[^\n]*\n)*name = "rl"', f"[policy]\n{policy}", text_)


def store_campaign(store: db.Store, experiments: int, policy: str = 'name = "sobol"') -> int:
    """Store a campaign as `lab queue` would, without its checks (as if queued where they passed)."""
    src = spec_text(experiments, policy)
    spec = parse_spec(src)
    with store.session() as s:
        return db.create_campaign(s, name=spec.name, spec_toml=src, spec=spec.to_store_dict(), seed=spec.seed,
                                  reward=spec.reward_definition(), at=WallClock().now())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_api(None, tmp_path_factory.mktemp("prefect")) as url:
        yield url


@pytest.fixture
def spawn(api: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "LAB_HOME": str(tmp_path), "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect"),
               "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
        env.pop("LAB_DATABASE_URL", None)
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli.app", "worker", "--db", url, *args], env=env,
                                cwd=str(tmp_path), stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log.name  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def output(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 180.0) -> float:
    """Wait until ``condition()``; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - start


def campaign(store: db.Store, cid: int) -> db.CampaignInfo:
    with store.session() as s:
        return db.get_campaign(s, cid)


def decisions(store: db.Store, cid: int) -> int:
    with store.session() as s:
        return len(db.list_decisions(s, cid))


def _fresh(url: str) -> db.Store:
    store = db.open_store(url)
    with store.session() as s:  # the PostgreSQL database is shared by the session's tests: start from an empty queue
        for info in db.list_campaigns(s):
            if info.status in ("queued", "running"):
                db.set_campaign_status(s, info.id, "cancelled", WallClock().now())
    return store


def test_a_campaign_that_cannot_run_fails_alone_between_two_good_ones(postgres_url: str, spawn) -> None:
    """On PostgreSQL (the other tests here run on SQLite, as does the engine-level test in test_control)."""
    url = postgres_url
    store = _fresh(url)
    good1 = store_campaign(store, 3)
    bad = store_campaign(store, 3, 'name = "rl"\noptions = { checkpoint = "/nonexistent/policy.lab" }')
    good2 = store_campaign(store, 3)
    worker = spawn(url, "--once", "--max-campaigns", "1", "--name", "queue-test")
    assert worker.wait(timeout=400) == 0, output(worker)
    statuses = {cid: campaign(store, cid).status for cid in (good1, bad, good2)}
    assert statuses == {good1: "completed", bad: "failed", good2: "completed"}, output(worker)
    with store.session() as s:
        (event,) = [e for e in db.list_events(s, bad) if e.kind == "campaign_failed"]
        assert db.count_by_state(s, good2)["rewarded"] == 3
    assert "/nonexistent/policy.lab" in event.message and "\n" not in event.message
    assert "Traceback" not in output(worker)
    store.dispose()


def test_a_restart_under_the_same_name_takes_its_campaign_back_at_once_and_sigterm_stops_cleanly(tmp_path: Path,
                                                                                              spawn) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    store = _fresh(url)
    cid = store_campaign(store, 400)
    first = spawn(url, "--name", "bench-a", "--lease-s", "300")
    wait_for("the first worker to decide", lambda: decisions(store, cid) >= 2)
    first.kill()
    first.wait()
    before = decisions(store, cid)
    second = spawn(url, "--name", "bench-a", "--lease-s", "300")
    took = wait_for("the restarted worker to decide", lambda: decisions(store, cid) > before + 1)
    assert took < 120, "a restart must not wait for its own 300 s lease"
    assert campaign(store, cid).claimed_by == "bench-a"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, output(second)
    log = output(second)
    assert "stopped" in log and "Traceback" not in log and "TerminationSignal" not in log
    info = campaign(store, cid)
    assert info.status == "running" and info.claimed_by == "bench-a"  # resumes from the store
    store.dispose()


def test_another_worker_takes_over_only_after_the_lease_lapses_and_a_live_name_is_refused(tmp_path: Path,
                                                                                       spawn) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    store = _fresh(url)
    cid = store_campaign(store, 400)
    lease_s = 8.0
    holder = spawn(url, "--name", "bench-a", "--lease-s", str(lease_s))
    wait_for("the first worker to decide", lambda: decisions(store, cid) >= 2)
    twin = spawn(url, "--name", "bench-a", "--once")
    assert twin.wait(timeout=120) == 2
    lines = [ln for ln in output(twin).splitlines() if "held by" in ln]
    assert len(lines) == 1 and "bench-a" in lines[0] and "Traceback" not in output(twin)
    holder.kill()
    holder.wait()
    last_renewal = campaign(store, cid).heartbeat_at
    assert last_renewal is not None
    other = spawn(url, "--name", "bench-b", "--lease-s", str(lease_s))
    wait_for("the takeover", lambda: campaign(store, cid).claimed_by == "bench-b", timeout_s=180)
    taken_at = WallClock().now()
    assert (taken_at - last_renewal).total_seconds() >= lease_s - 0.5, "taken over while the lease was live"
    progress = decisions(store, cid)
    wait_for("the new holder to decide", lambda: decisions(store, cid) > progress)
    assert campaign(store, cid).claimed_by == "bench-b"
    other.send_signal(signal.SIGTERM)
    assert other.wait(timeout=60) == 0, output(other)
    store.dispose()


def test_a_terminated_database_connection_is_retried_and_the_worker_carries_on(postgres_url: str, spawn) -> None:
    store = _fresh(postgres_url)
    cid = store_campaign(store, 400)
    worker = spawn(postgres_url, "--name", "bench-pg")
    wait_for("the worker to decide", lambda: decisions(store, cid) >= 2)
    for _ in range(3):
        with store.session() as s:
            killed = s.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        assert killed >= 1
        progress = decisions(store, cid)
        wait_for("progress after the connections were cut", lambda p=progress: decisions(store, cid) > p)
        assert worker.poll() is None, output(worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, output(worker)
    assert "Traceback" not in output(worker)
    store.dispose()
