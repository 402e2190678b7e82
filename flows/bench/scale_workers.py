"""The worker processes of ``lab bench scale``: real ``lab worker`` processes, each through the probe.

:class:`ScaleWorker` starts ``python -m flows.bench.scale_probe PROBE.json worker --lab-file F --db URL
--name N --max-campaigns M --lease-s L --quiet`` in its own process group (output to ``N.log``), as
:class:`flows.bench.crash_procs.WorkerProcess` starts the crash bench's workers, and stops it
cleanly with ``SIGTERM`` (the probe writes its file at exit). :func:`wait_registered` waits until
every worker holds its name in the store (it has started, connected to the lab, and is about to
claim), which is when the bench starts counting CPU time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import db
from flows.bench.scale_probe import live_path
from flows.errors import FlowError

__all__ = ["ScaleWorker", "wait_registered"]

#: Real seconds the workers may take to start (imports, Prefect, the lab's connections), all together.
STARTUP_TIMEOUT_S = 240.0


class ScaleWorker:
    """One ``lab worker`` process of the bench (see the module docstring).

    Args:
        folder: the run's folder (``LAB_HOME``; the log and probe files go there).
        lab_file: the served lab's lab file.
        url: the ledger URL.
        api_url: the Prefect API.
        name: the worker's name (``--name``).
        max_campaigns: ``--max-campaigns``.
        lease_s: ``--lease-s`` (wall-clock seconds).
    """

    def __init__(self, folder: Path, lab_file: Path, url: str, api_url: str, name: str, max_campaigns: int,
                 lease_s: float) -> None:
        self.name = name
        self.log_path = folder / f"{name}.log"
        self.probe_path = folder / f"{name}.probe.json"
        env = {**os.environ, "LAB_HOME": str(folder), "PREFECT_HOME": str(folder / "prefect"),
               "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING",
               "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL"}
        env.pop("LAB_DATABASE_URL", None)
        args = [sys.executable, "-m", "flows.bench.scale_probe", str(self.probe_path), "worker", "--lab-file",
                str(lab_file), "--db", url, "--name", name, "--max-campaigns", str(max_campaigns),
                "--lease-s", f"{lease_s:g}", "--quiet"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, cwd=str(folder), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.stopped = False

    def log_tail(self, lines: int = 5) -> str:
        """The last ``lines`` lines of its output, on one line."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def terminate(self) -> None:
        """Send SIGTERM (a clean stop after the current round) without waiting; :meth:`stop` waits."""
        if not self.stopped:
            self.stopped = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (unless sent already) and wait; its exit status, or None if it had to be killed."""
        self.terminate()
        if self.proc.returncode is not None:
            return self.proc.returncode
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def probe(self) -> dict[str, Any]:
        """What the probe wrote at exit (empty when the worker did not exit cleanly)."""
        return _read(self.probe_path)

    def live(self) -> dict[str, Any]:
        """The probe's counts so far (at most :data:`~flows.bench.scale_probe.LIVE_EVERY_S` old; empty before the first)."""
        return _read(live_path(self.probe_path))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wait_registered(store: db.Store, workers: list[ScaleWorker], timeout_s: float = STARTUP_TIMEOUT_S) -> float:
    """Wait until every worker holds its name in the store; the real seconds it took.

    Raises:
        FlowError: a worker exited, or they were not all up within ``timeout_s`` seconds (its log's tail is said).
    """
    t0 = time.monotonic()
    waiting = list(workers)
    while waiting:
        for w in list(waiting):
            if w.proc.poll() is not None:
                raise FlowError(f"worker {w.name} exited with status {w.proc.returncode} while starting: {w.log_tail()}")
            with store.session() as s:
                me = db.get_worker(s, w.name)
            if me is not None and me.pid == w.proc.pid:
                waiting.remove(w)
        if waiting and time.monotonic() - t0 > timeout_s:
            raise FlowError(f"worker {waiting[0].name} did not start within {timeout_s:g} s: {waiting[0].log_tail()}")
        if waiting:
            time.sleep(0.25)
    return time.monotonic() - t0
