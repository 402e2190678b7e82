"""``lab server`` and ``lab ui``: the Prefect server (API and UI) of this lab, until Ctrl-C.

``lab server [--port 4200] [--host 127.0.0.1] [--database-url URL]`` runs ``prefect server start``
with ``PREFECT_HOME=$LAB_HOME/prefect`` (as every ``lab`` command sets it:
:func:`flows.campaign.settings.prepare_prefect`). It listens on loopback unless ``--host`` names
another address, and then prints a warning line first: a Prefect server has no login of its own,
so whoever reaches the port can start and read flow runs. ``PREFECT_SERVER_API_HOST`` in the
environment is ignored; only ``--host`` widens it.

``--database-url`` gives Prefect its own database, e.g. PostgreSQL on the lab's database server
(``postgresql+psycopg://prefect:PASSWORD@db-host/prefect``, converted to the ``postgresql+asyncpg``
driver Prefect's server uses; ``sqlite:///FILE`` becomes ``sqlite+aiosqlite``). The URL reaches the
server through its environment (``PREFECT_SERVER_DATABASE_CONNECTION_URL``), never its argument list,
and is printed masked. ``LAB_PREFECT_DATABASE_URL`` may hold it instead of the option (then no
process list on the machine shows the password: an option is part of ``lab server``'s own
argument list), or libpq's password file may hold the password. Without it, Prefect's SQLite file in ``$LAB_HOME/prefect`` holds everything.

``lab ui [--port]`` is the same server on 127.0.0.1 and Prefect's SQLite file: without
``PREFECT_API_URL``, each ``lab worker`` or ``lab run`` starts Prefect's temporary server on that
file, so their runs and summary artifacts appear there afterwards; started with
``PREFECT_API_URL=http://127.0.0.1:PORT/api`` (what both commands print), they report to the
server as they run: flow runs, task runs (one per instrument command) and each campaign's summary
artifact (``campaign-<id>-summary``), live.

The server runs in its own process group; Ctrl-C (or SIGTERM) stops it and everything it started.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional
from urllib.parse import quote_plus

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from db.urls import mask_url, parse_url
from flows.campaign.settings import lab_home
from flows.cli.errors import friendly
from flows.errors import UsageError

__all__ = ["is_loopback", "prefect_database_url", "register"]

console = Console()
#: Real seconds to wait for the server's health endpoint before giving up.
STARTUP_S = 300.0
#: Prefect's own database drivers, by the backend a ``--database-url`` names.
DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
_WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) listens only on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def prefect_database_url(text: str) -> URL:
    """The URL of Prefect's own database for ``--database-url`` ``text``, with Prefect's async driver.

    Raises:
        UsageError: the URL cannot be parsed, or names neither PostgreSQL nor SQLite (the message is masked).
    """
    try:
        url = parse_url(text)
    except ValueError as exc:
        raise UsageError(f"--database-url {mask_url(text)}: {exc}") from None
    driver = DRIVERS.get(url.get_backend_name())
    if driver is None:
        raise UsageError(f"--database-url {mask_url(text)}: Prefect's database must be PostgreSQL or SQLite")
    return url.set(drivername=driver)


def _address(host: str, port: int) -> str:
    """``http://HOST:PORT`` for a browser or client (a wildcard host: this machine's name)."""
    shown = socket.gethostname() if host in _WILDCARDS else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _health_url(host: str, port: int) -> str:
    local = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    return f"http://{local}:{port}/api/health"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the command as Ctrl-C does."""
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """Stop the server's process group (SIGTERM, then SIGKILL after 20 s); returns its exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.wait()


def _last_line(log_path: Path, secret: str | None) -> str:
    """The log's last line, with the database password (if any) hidden."""
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
    line = tail[0] if tail else ""
    for hidden in (secret, quote_plus(secret) if secret else None):
        if hidden:
            line = line.replace(hidden, "***")
    return line


def serve(port: int, host: str = "127.0.0.1", database: URL | None = None) -> None:
    """Run ``prefect server start`` on ``host:port`` until Ctrl-C or SIGTERM (see the module docstring).

    Raises:
        UsageError: something already answers on the port; the server stopped or did not answer in time.
    """
    home = os.environ.get("PREFECT_HOME", "")
    address, health = _address(host, port), _health_url(host, port)
    if not is_loopback(host):
        console.print(f"warning: the Prefect server listens beyond loopback, on {host}:{port}; anyone who reaches "
                      "this port can start and read flow runs: allow only the lab's hosts through the firewall",
                      style="bold yellow", highlight=False, soft_wrap=True)
    if _healthy(health):
        raise UsageError(f"something already answers on {address}; choose another --port")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_API_URL": f"{address}/api"}
    env.pop("PREFECT_API_URL", None)  # the server is the API; it must not look for another one
    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        env.pop(name, None)
    if database is not None:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database.render_as_string(hide_password=False)
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port), "--no-background"]
    log_path = lab_home() / "prefect-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    where = f"database {mask_url(database)}" if database is not None else f"its SQLite file in {home}"
    console.print(f"Prefect UI of {home}: {address} (starting, {where}; its log: {log_path})", highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(health):
            if proc.poll() is not None:
                tail = _last_line(log_path, database.password if database is not None else None)
                raise UsageError(f"the Prefect server stopped at start-up (exit {proc.returncode})"
                                 + (f": {tail}" if tail else "") + f"; see {log_path}")
            if time.monotonic() > deadline:
                raise UsageError(f"the Prefect server did not answer on {address} within {STARTUP_S:.0f} s")
            time.sleep(0.5)
        console.print(f"ready: {address}; run workers with PREFECT_API_URL={address}/api to see their runs live; "
                      "Ctrl-C to stop", highlight=False, soft_wrap=True)
        while proc.poll() is None:
            time.sleep(0.5)
        raise UsageError(f"the Prefect server stopped (exit {proc.returncode})")
    except KeyboardInterrupt:
        console.print("stopping the Prefect server...")
    finally:
        _stop(proc)
    console.print("stopped")


@friendly
def server(port: int = typer.Option(4200, "--port", min=1, max=65535, help="Port to listen on."),
           host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: loopback only; "
                                    "another address prints a warning)."),
           database_url: Optional[str] = typer.Option(None, "--database-url", envvar="LAB_PREFECT_DATABASE_URL",
                                                      show_envvar=True, help="Prefect's own database, e.g. "
                                                      "postgresql+psycopg://USER:PASSWORD@HOST/prefect (default: "
                                                      "a SQLite file in $LAB_HOME/prefect); with a password, prefer "
                                                      "the environment variable, which no process list shows.")
           ) -> None:
    """Serve this lab's Prefect API and UI (loopback unless --host), on PostgreSQL when asked, until Ctrl-C."""
    serve(port, host, prefect_database_url(database_url) if database_url else None)


@friendly
def ui(port: int = typer.Option(4200, "--port", min=1, max=65535, help="Port on 127.0.0.1.")) -> None:
    """Serve the Prefect UI and API of this LAB_HOME on 127.0.0.1 until Ctrl-C (`lab server` on loopback)."""
    serve(port)


def register(app: typer.Typer) -> None:
    """Add ``lab server`` and ``lab ui`` to ``app``."""
    app.command()(server)
    app.command()(ui)
