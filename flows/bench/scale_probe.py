"""The ``lab`` command with a probe: how long each ledger write takes to commit, and how many rounds the worker made.

``lab bench scale`` starts its workers as ``python -m flows.bench.scale_probe PROBE.json worker ...``:
this module installs the probe, then runs the ``lab`` command's module (``flows.cli.app``, as
``python -m flows.cli.app`` would) with the remaining arguments, so the worker is the real one,
unchanged. At exit (a clean stop: SIGTERM ends a worker after its round) it writes ``PROBE.json``:

* ``commit_ms``: one entry per ledger write transaction, the milliseconds from SQLAlchemy's
  ``before_commit`` to ``after_commit`` of every session that flushed something (the final flush
  and the ``COMMIT`` round trip, locks waited for included); read-only sessions are left out;
* ``rounds`` and ``round_s``: the worker's rounds (:meth:`flows.campaign.worker.Worker.round`, one
  tick of every campaign it holds, and of the steps it hosts) and the real seconds they took in all;
* ``cpu_s``: the process's own user + system CPU seconds at exit (``resource.getrusage``).

While the worker runs, a thread rewrites ``PROBE.live.json`` every :data:`LIVE_EVERY_S` seconds
with the counts so far (``rounds``, ``round_s``, ``commits``, ``cpu_s``; no latencies), so the
bench can take the difference over its window; what a worker did before the campaigns were queued
(start-up, idle looks at the queue) is left out that way.
"""

from __future__ import annotations

import atexit
import json
import resource
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["LIVE_EVERY_S", "Probe", "live_path", "main"]

#: Real seconds between rewrites of the live counts.
LIVE_EVERY_S = 0.5


def live_path(path: Path) -> Path:
    """Where the live counts of the probe writing ``path`` go."""
    return path.with_suffix(".live.json")


class Probe:
    """Commit latencies and round counts of this process (see the module docstring)."""

    def __init__(self) -> None:
        self.commit_ms: list[float] = []
        self.rounds = 0
        self.round_s = 0.0
        self._lock = threading.Lock()

    def install(self, sessions: Any = Session, rounds: bool = True) -> None:
        """Listen to the flushes and commits of ``sessions`` (every session), and count the worker's rounds.

        Args:
            sessions: what SQLAlchemy listens on: the ``Session`` class (every session of the
                process), one ``sessionmaker`` or one session.
            rounds: also count :meth:`flows.campaign.worker.Worker.round` (process-wide).
        """
        event.listen(sessions, "after_flush", self._flushed)
        event.listen(sessions, "before_commit", self._committing)
        event.listen(sessions, "after_commit", self._committed)
        event.listen(sessions, "after_rollback", self._rolled_back)
        if rounds:
            self._count_rounds()

    def _count_rounds(self) -> None:
        from flows.campaign.worker import Worker

        original = Worker.round

        def counted(worker: Worker) -> None:
            t0 = time.perf_counter()
            try:
                original(worker)
            finally:
                with self._lock:
                    self.rounds += 1
                    self.round_s += time.perf_counter() - t0

        Worker.round = counted  # type: ignore[method-assign,assignment]  # the same round, timed

    def _flushed(self, session: Session, context: Any) -> None:
        session.info["scale_probe_wrote"] = True

    def _committing(self, session: Session) -> None:
        session.info["scale_probe_t0"] = time.perf_counter()

    def _committed(self, session: Session) -> None:
        t0 = session.info.pop("scale_probe_t0", None)
        if session.info.pop("scale_probe_wrote", False) and t0 is not None:
            with self._lock:
                self.commit_ms.append((time.perf_counter() - t0) * 1000.0)

    def _rolled_back(self, session: Session) -> None:
        session.info.pop("scale_probe_t0", None)
        session.info.pop("scale_probe_wrote", None)

    def counts(self) -> dict[str, Any]:
        """Rounds, their seconds, commits and this process's CPU seconds so far."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            return {"rounds": self.rounds, "round_s": round(self.round_s, 3), "commits": len(self.commit_ms),
                    "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}

    def report(self) -> dict[str, Any]:
        """What was measured (JSON-able): :meth:`counts` and every commit's milliseconds."""
        counts = self.counts()
        with self._lock:
            return {**counts, "commit_ms": [round(v, 3) for v in self.commit_ms]}

    def write(self, path: Path) -> None:
        """Write :meth:`report` to ``path``."""
        _write(path, self.report())

    def keep_live(self, path: Path) -> None:
        """Rewrite :meth:`counts` to :func:`live_path` of ``path`` every :data:`LIVE_EVERY_S` s, from a daemon thread."""
        def loop() -> None:
            while True:
                _write(live_path(path), self.counts())
                time.sleep(LIVE_EVERY_S)
        threading.Thread(target=loop, name="scale-probe", daemon=True).start()


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")  # through a temporary file, so a reader never sees half of it
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str]) -> None:
    """``PROBE.json ARGS...``: install the probe, write it at exit, run ``lab ARGS...``."""
    if len(argv) < 2:
        raise SystemExit("usage: python -m flows.bench.scale_probe PROBE.json worker [OPTIONS]")
    path, args = Path(argv[0]), argv[1:]
    from flows.campaign.settings import prepare_prefect

    prepare_prefect()  # before Prefect loads, as the lab command itself does
    probe = Probe()
    probe.install()
    atexit.register(probe.write, path)
    probe.keep_live(path)
    sys.argv = ["lab", *args]
    runpy.run_module("flows.cli.app", run_name="__main__", alter_sys=True)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
