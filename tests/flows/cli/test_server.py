"""`lab server`: Prefect's server of this lab on loopback, with its own database on PostgreSQL when asked.

The real process keeps Prefect's tables in a private PostgreSQL database, prints the database URL
masked, passes it to the server through the environment only (given as ``LAB_PREFECT_DATABASE_URL``,
no process on the machine shows the password in its argument list), and stops on Ctrl-C. A host beyond loopback prints a warning first;
a database that is neither PostgreSQL nor SQLite is one clear line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from db.engine import make_engine
from flows.cli.app import app
from flows.cli.server import is_loopback, prefect_database_url
from flows.errors import UsageError
from tests.conftest import PG_URL, fresh_postgres_database
from tests.flows.cli.test_ui import free_port, healthy

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cret-Pw"


def test_loopback_hosts_are_told_apart_from_the_rest() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "lab-server.example"))


def test_database_urls_get_prefects_async_drivers_and_others_are_refused() -> None:
    pg = prefect_database_url(f"postgresql+psycopg://prefect:{SECRET}@db.example:5432/prefect")
    assert pg.drivername == "postgresql+asyncpg" and pg.password == SECRET and pg.database == "prefect"
    assert prefect_database_url("postgresql://u@h/p").drivername == "postgresql+asyncpg"
    assert prefect_database_url("sqlite:////tmp/prefect.db").drivername == "sqlite+aiosqlite"
    with pytest.raises(UsageError) as refused:
        prefect_database_url(f"mysql://root:{SECRET}@db.example/prefect")
    assert "PostgreSQL or SQLite" in str(refused.value) and SECRET not in str(refused.value)
    result = CliRunner().invoke(app, ["server", "--database-url", f"mysql://root:{SECRET}@db.example/prefect"])
    assert result.exit_code == 2 and "PostgreSQL or SQLite" in result.output and SECRET not in result.output


@pytest.fixture
def prefect_database() -> Iterator[str]:
    """A fresh PostgreSQL database for Prefect's own tables (dropped at the end); its name."""
    with fresh_postgres_database("prefect_test") as (_, name):
        yield name


def _argument_lists() -> list[str]:
    """Every process's argument list on this machine, as text."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return found


@pytest.mark.postgres
def test_lab_server_keeps_prefects_tables_in_its_postgres_database_and_never_shows_the_password(
        tmp_path: Path, prefect_database: str) -> None:
    port = free_port()
    base = make_engine(PG_URL).url
    database_url = (f"postgresql+psycopg://{base.username}:{SECRET}@{base.host}:{base.port or 5432}/{prefect_database}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"LAB_HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "PREFECT_SERVER_API_HOST": "0.0.0.0",
                "LAB_PREFECT_DATABASE_URL": database_url})  # (what --database-url also takes)
    log_path = tmp_path / "server.out"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli.app", "server", "--port", str(port)], env=env,
                                cwd=str(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "ready:" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "lab server did not answer in 240 s"
            time.sleep(0.5)
        assert healthy(f"http://127.0.0.1:{port}/api/health")
        assert not any(SECRET in args for args in _argument_lists())  # the URL went through the environment
        with make_engine(PG_URL.rsplit("/", 1)[0] + f"/{prefect_database}").connect() as conn:
            tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        assert {"flow_run", "deployment", "work_pool", "task_run"} <= tables, sorted(tables)
        # PREFECT_SERVER_API_HOST=0.0.0.0 in the environment did not widen it: loopback only
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = {line.split()[3] for line in listening.splitlines() if line.strip()}  # State Recv-Q Send-Q Local Peer
        assert local == {f"127.0.0.1:{port}"}, listening
        # beyond loopback only when --host says so, with a warning first (here it stops at the busy port)
        wide = CliRunner().invoke(app, ["server", "--host", "0.0.0.0", "--port", str(port)])
        assert wide.exit_code == 2, wide.output
        assert "listens beyond loopback" in wide.output and "already answers" in wide.output
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:  # a failed check: still stop the server it started (its own process group)
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    out = log_path.read_text()
    assert f"http://127.0.0.1:{port}" in out and "postgresql+asyncpg://" in out and "***" in out and "stopped" in out
    assert SECRET not in out and SECRET not in (tmp_path / "prefect-server.log").read_text()
    assert not healthy(f"http://127.0.0.1:{port}/api/health")
