"""A private PostgreSQL server for ``lab bench crash --pg-restart``, which only the bench uses.

Restarting a shared server would cut every other user's connections (other benches, tests, people),
so ``--pg-restart`` never touches the server ``--db`` names: :func:`private_postgres` creates a
throwaway cluster in a fresh temporary folder (``initdb``, about 2 s), serves it on a free loopback port, lets the
bench restart it (:meth:`PrivateServer.restart`, ``pg_ctl restart -m immediate``: a crash of the
server, recovered from its write-ahead log at the next start, about 0.5 s) and stops and removes it
at the end. PostgreSQL refuses to run as root; as root the cluster belongs to the ``postgres``
system user (``runuser -u postgres``). The binaries are found with ``pg_config --bindir``, else
under ``/usr/lib/postgresql/<version>/bin``. ``fsync`` is off: the machine does not crash, only
the server does, so what it wrote is in the page cache all the same.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.errors import FlowError

__all__ = ["PrivateServer", "find_bindir", "private_postgres"]

#: Real seconds a start, stop or restart may take.
PG_CTL_TIMEOUT_S = 60


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True)
        if (Path(out.stdout.strip()) / "initdb").is_file():
            return Path(out.stdout.strip())
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateServer:
    """One private cluster: its data folder, port and binaries.

    Attributes:
        folder: holds ``data/`` (the cluster), the socket and ``server.log``.
        port: the loopback TCP port.
        bindir: the PostgreSQL binaries.
        restarts: restarts so far.
    """

    folder: Path
    port: int
    bindir: Path
    restarts: int = 0

    @property
    def url(self) -> str:
        """The URL of its ``postgres`` database (the bench creates its scratch database there)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        try:
            subprocess.run([*prefix, str(self.bindir / tool), *args], capture_output=True, text=True,
                           timeout=PG_CTL_TIMEOUT_S, check=True)
        except subprocess.CalledProcessError as exc:
            raise FlowError(f"{tool} {' '.join(args[:2])} failed: {(exc.stderr or exc.stdout).strip()[-300:]}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FlowError(f"{tool} failed: {exc}") from None

    def _ctl(self, action: str, mode: str = "fast") -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        args = ["-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"), "-w", "-t", str(PG_CTL_TIMEOUT_S)]
        if action == "stop":
            self._run("pg_ctl", "stop", "-m", mode, *args)
        else:
            self._run("pg_ctl", action, *(["-m", mode] if action == "restart" else []), *args, "-o", options)

    def init(self) -> None:
        """Create the cluster (trust authentication on loopback and its socket only) and start it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")

    def restart(self) -> int:
        """Crash the server (``-m immediate``: no shutdown checkpoint, every connection cut) and start it again.

        Returns:
            The restarts so far.
        """
        self._ctl("restart", mode="immediate")
        self.restarts += 1
        return self.restarts

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        self._ctl("stop")


@contextlib.contextmanager
def private_postgres(keep: bool = False) -> Iterator[PrivateServer]:
    """A started private server in a temporary folder (see the module docstring); stopped, and removed unless ``keep``.

    Raises:
        FlowError: PostgreSQL is not installed, or the cluster could not be created or started.
    """
    bindir = find_bindir()
    if bindir is None:
        raise FlowError("--pg-restart needs PostgreSQL's initdb and pg_ctl (pg_config --bindir found none)")
    folder = Path(tempfile.mkdtemp(prefix="lab-crash-pg-"))
    server = PrivateServer(folder, _free_port(), bindir)
    try:
        server.init()
        yield server
    finally:
        with contextlib.suppress(FlowError):
            server.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
