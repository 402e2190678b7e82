"""``lab worker --db URL`` with a password: the password reaches neither Prefect's database nor its API.

A real worker process (``--once``, its own temporary Prefect server, as a lab runs it) on a real
PostgreSQL database whose role has a password full of URL characters, written unescaped on the
command line. Afterwards every byte under its ``LAB_HOME`` (Prefect's SQLite file, its WAL, logs)
and everything Prefect's API serves about the run (flow runs and their parameters, task runs, logs,
artifacts, events) is searched for the password, and so is the worker's output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import prefect
import pytest
from psycopg import sql
from sqlalchemy import Engine

import db
from db.engine import make_engine
from db.urls import parse_url
from tests.flows.campaign.test_worker_processes import store_campaign

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def secret_database(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A database owned by a new role with a password: (the URL with the password unescaped, the password)."""
    token = uuid.uuid4().hex[:12]
    role, name, password = f"lab_secret_{token}", f"lab_secret_{token}", f"p@ss:w/rd%x-{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    _run(admin, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        _run(admin, sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
        server = admin.url
        yield f"postgresql+psycopg://{role}:{password}@{server.host}:{server.port or 5432}/{name}", password
    finally:
        _run(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        _run(admin, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.dispose()


def _run(engine: Engine, statement: sql.Composed) -> None:
    with engine.connect() as conn:
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]  (no % placeholders parsed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "LAB_DATABASE_URL"}
    return {**env, "LAB_HOME": str(home), "PYTHONPATH": str(ROOT), "PREFECT_LOGGING_LEVEL": "INFO"}


def _prefect_api_on(prefect_home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Prefect's own server on the worker's Prefect database (the worker's temporary server has ended)."""
    port = _free_port()
    env = {**_clean_env(prefect_home.parent), "PREFECT_HOME": str(prefect_home), "PREFECT_UI_ENABLED": "0",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL"}
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return proc, api
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise AssertionError(f"Prefect's server did not start: {log.read_text(errors='replace')[-2000:]}")


def _api_views(api: str) -> dict[str, Any]:
    """Everything the API serves about the runs: flow runs, task runs, logs, artifacts, events."""
    views: dict[str, Any] = {}
    with httpx.Client(base_url=api, timeout=30) as client:
        for what in ("flows", "flow_runs", "task_runs", "logs", "artifacts"):
            reply = client.post(f"/{what}/filter", json={"limit": 200})
            assert reply.status_code == 200, (what, reply.text)
            views[what] = reply.json()
        reply = client.post("/events/filter", json={"limit": 50, "filter": {"occurred": {"since": "2000-01-01T00:00:00Z"}}})
        views["events"] = []
        while True:  # 50 a page; next_page is the URL of the next one
            assert reply.status_code == 200, reply.text
            page = reply.json()
            views["events"] += page["events"]
            if not page.get("next_page"):
                break
            reply = client.get(page["next_page"])
    return views


def test_the_worker_keeps_the_database_password_out_of_prefect(secret_database: tuple[str, str], tmp_path: Path) -> None:
    url, password = secret_database
    secrets = [password.encode(), quote(password, safe="").encode(), password.split("-")[-1].encode()]
    store = db.open_store(url)
    try:
        cid = store_campaign(store, 1)
    finally:
        store.dispose()
    home = tmp_path / "home"
    worker = subprocess.run([sys.executable, "-m", "flows.cli.app", "worker", "--db", url, "--once", "--name", "secret-test"],
                            env=_clean_env(home), cwd=str(tmp_path), capture_output=True, timeout=500)
    said = worker.stdout + worker.stderr
    assert worker.returncode == 0, said.decode(errors="replace")
    assert f"campaign {cid} completed".encode() in worker.stdout
    assert not [s for s in secrets if s in said], "the password is in the worker's output"

    prefect_home = home / "prefect"
    databases = sorted(prefect_home.glob("*.db"))
    assert databases, f"no Prefect database under {prefect_home}"
    files = [p for p in home.rglob("*") if p.is_file()]
    leaks = [f"{p.relative_to(home)}: {s!r}" for p in files for s in secrets if s in p.read_bytes()]
    assert not leaks, f"the password is stored in {leaks}"

    server, api = _prefect_api_on(prefect_home, tmp_path / "prefect-api.log")
    try:
        views = _api_views(api)
    finally:
        server.terminate()
        server.wait(timeout=30)
    worker_runs = [r for r in views["flow_runs"] if r["parameters"].get("worker_id") == "secret-test"]
    assert len(worker_runs) == 1, views["flow_runs"]
    handle = parse_url(worker_runs[0]["parameters"]["store"])  # the flow got the store's handle: no password
    assert (handle.username, handle.password, handle.database) == (url.split("//")[1].split(":")[0], None, url.rsplit("/", 1)[1])
    assert views["logs"], "the worker's flow run logged nothing: the search below would prove little"
    served = json.dumps(views).encode()
    assert not [s for s in secrets if s in served], "the password is served by Prefect's API"
