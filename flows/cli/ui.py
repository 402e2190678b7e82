"""``lab ui``: the Prefect server (API and UI) of this ``LAB_HOME``, on 127.0.0.1, until Ctrl-C.

It runs ``prefect server start`` with ``PREFECT_HOME=$LAB_HOME/prefect`` (as every ``lab``
command sets it: :func:`flows.campaign.settings.prepare_prefect`), so the UI shows the flow runs
and artifacts in that folder's Prefect database. Without ``PREFECT_API_URL``, each ``lab worker``
or ``lab run`` starts Prefect's temporary server on the same database: its runs and summary
artifacts appear in ``lab ui`` afterwards. Started with ``PREFECT_API_URL=http://127.0.0.1:PORT/api``
(what ``lab ui`` prints), they report to this server as they run: flow runs, task runs (one per
instrument command) and each campaign's summary artifact (``campaign-<id>-summary``), live.

The server runs in its own process group; Ctrl-C (or SIGTERM) stops it and everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import typer
from rich.console import Console

from flows.campaign.settings import lab_home
from flows.cli.errors import friendly
from flows.errors import UsageError

__all__ = ["register"]

console = Console()
#: Real seconds to wait for the server's health endpoint before giving up.
STARTUP_S = 300.0


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops ``lab ui`` as Ctrl-C does."""
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


@friendly
def ui(port: int = typer.Option(4200, "--port", min=1, max=65535, help="Port on 127.0.0.1.")) -> None:
    """Serve the Prefect UI and API of this LAB_HOME on 127.0.0.1 until Ctrl-C."""
    home = os.environ.get("PREFECT_HOME", "")
    address, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    if _healthy(api):
        raise UsageError(f"something already answers on {address}; choose another --port")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_API_URL": api}
    env.pop("PREFECT_API_URL", None)  # the server is the API; it must not look for another one
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-background"]
    log_path = lab_home() / "prefect-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    console.print(f"Prefect UI of {home}: {address} (starting; its log: {log_path})", highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(api):
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise UsageError(f"the Prefect server stopped at start-up (exit {proc.returncode})"
                                 + (f": {tail[0]}" if tail else "") + f"; see {log_path}")
            if time.monotonic() > deadline:
                raise UsageError(f"the Prefect server did not answer on {address} within {STARTUP_S:.0f} s")
            time.sleep(0.5)
        console.print(f"ready: {address}; run workers with PREFECT_API_URL={api} to see their runs live; Ctrl-C to stop",
                      highlight=False, soft_wrap=True)
        while proc.poll() is None:
            time.sleep(0.5)
        raise UsageError(f"the Prefect server stopped (exit {proc.returncode})")
    except KeyboardInterrupt:
        console.print("stopping the Prefect server...")
    finally:
        _stop(proc)
    console.print("stopped")


def register(app: typer.Typer) -> None:
    """Add ``lab ui`` to ``app``."""
    app.command()(ui)
