"""Plumbing of ``lab bench crash``: a scratch database, a shared Prefect API, worker processes to kill.

* :func:`scratch_database`: the SQLite file ``<out>/ledger.db`` by default; for a PostgreSQL URL, a
  fresh database ``lab_crash_<random>`` on that server (created as ``tests/conftest.py`` does, so
  nobody's data is touched), dropped at the end unless ``keep``.
* :func:`prefect_api`: one Prefect API server for every worker of the run. Without it each worker
  process starts Prefect's temporary server (measured: about 26 s per start on a loaded two-core
  machine against 8-15 s with a shared server), which would make most kills land in that start-up.
  A production lab runs its workers against a Prefect server too.
* :class:`WorkerProcess`: ``python -m flows.cli.app worker --lab-file F --db URL --name N ...`` in its
  own process group, output to a log file, killed with ``SIGKILL`` or stopped with ``SIGTERM``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.engine import make_engine
from db.errors import mask_url
from flows.errors import FlowError

__all__ = ["WorkerProcess", "prefect_api", "scratch_database"]


@contextlib.contextmanager
def scratch_database(url: str | None, out: Path, keep: bool = False) -> Iterator[str]:
    """The ledger URL for one bench run (see the module docstring).

    Raises:
        FlowError: the URL is neither SQLite nor PostgreSQL, or the PostgreSQL server does not answer.
    """
    if url is None:
        yield f"sqlite:///{out / 'ledger.db'}"
        return
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        yield url
        return
    if backend != "postgresql":
        raise FlowError(f"--db {mask_url(url)}: expected a sqlite:/// or postgresql+psycopg:// URL")
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"lab_crash_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise FlowError(f"cannot create a scratch database on {mask_url(url)}: {getattr(exc, 'orig', exc)}") from None
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prefect_api(api_url: str | None, out: Path, timeout_s: float = 180.0) -> Iterator[str]:
    """The Prefect API the workers use: ``api_url`` if given, else a server started here for the run.

    The server is Prefect's own (the app its temporary servers run), on a free loopback port, with
    its database in ``<out>/prefect-server``; its output goes to ``<out>/prefect-server.log``.

    Raises:
        FlowError: the server did not answer within ``timeout_s`` seconds.
    """
    if api_url:
        yield api_url
        return
    import prefect

    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(out / "prefect-server"), "PREFECT_UI_ENABLED": "0",
           "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]
    url = f"http://127.0.0.1:{port}/api"
    with open(out / "prefect-server.log", "ab") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise FlowError(f"the Prefect server for the bench did not start (see {out / 'prefect-server.log'})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class WorkerProcess:
    """One ``lab worker`` process on the served lab, in its own process group.

    Args:
        lab_file: the served lab's lab file.
        url: the ledger URL.
        home: ``LAB_HOME`` of the worker (the bench's folder).
        api_url: the Prefect API the worker reports to.
        log_path: where its output goes.
        name: its worker name (``--name``); a restart under the same name takes its campaigns back at once.
        once: pass ``--once`` (stop when the queue is empty); otherwise it runs until :meth:`stop`.
        max_campaigns: ``--max-campaigns``.
        lease_s: ``--lease-s`` (wall-clock seconds).
        pool: ``--pool`` (the Prefect work pool it serves), if given.
    """

    #: The name of the single worker (``lab bench crash --workers 1``); worker ``i`` of several is ``NAME-i``.
    NAME = "crash-bench-worker"

    def __init__(self, lab_file: Path, url: str, home: Path, api_url: str, log_path: Path, *, name: str = NAME,
                 once: bool = True, max_campaigns: int = 4, lease_s: float = 120.0, pool: str | None = None) -> None:
        env = {**os.environ, "LAB_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), "PREFECT_API_URL": api_url,
               "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL"}
        env.pop("LAB_DATABASE_URL", None)
        args = [sys.executable, "-m", "flows.cli.app", "worker", "--lab-file", str(lab_file), "--db", url,
                "--name", name, "--max-campaigns", str(max_campaigns), "--lease-s", f"{lease_s:g}"]
        args += ["--once"] if once else []
        args += ["--pool", pool] if pool else []
        self.log_path = log_path
        self.started = time.monotonic()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, cwd=str(home), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.worker_id = name

    @property
    def elapsed_s(self) -> float:
        """Real seconds since the process started."""
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.proc.poll()

    def kill(self) -> None:
        """SIGKILL the worker and everything in its process group, and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (a clean stop after the current round); its exit status, or None if it had to be killed."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` seconds for it to exit; its status, or None (then it is killed)."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
