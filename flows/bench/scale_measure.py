"""What ``lab bench scale`` reads after each run: CPU seconds of processes, and the ledger's account of the window.

* :func:`proc_cpu_s`: user + system CPU seconds of a process so far, from ``/proc/<pid>/stat``
  (every thread; children it has reaped included), ``None`` where ``/proc`` does not show it.
* :func:`child_pids`: the processes a process started whose command line holds a word (the
  bench's Prefect server, found among its children).
* :func:`backend_cpu_s`: the same summed over the PostgreSQL server processes serving one
  database (``pg_stat_activity``), when the server runs on this machine; the bench's own
  connections (application name :data:`BENCH_APP`) are left out. Backends that already closed are
  not counted, so it is a lower bound.
* :func:`ledger_window`: from the ledger alone, for a window on the simulated clock: experiments
  completed (rewarded or failed inside it), decisions, the instruments' busy time (each step's
  *physical* duration from its command, :func:`instruments.registry.step_duration_s`, from its
  acknowledgement on, clipped to the window: the device's time, not the controller's lag) and the
  collection lag (from a job's physical end to the moment its step was marked done: how far the
  controller trailed the instruments).
* :func:`quantiles`: median and p99 (linear interpolation) of a list, rounded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text

import db
from instruments.registry import step_duration_s

__all__ = ["BENCH_APP", "backend_cpu_s", "child_pids", "ledger_window", "proc_cpu_s", "quantiles"]

#: The PostgreSQL application name of the bench's own connections (left out of the database's CPU).
BENCH_APP = "lab-bench-scale"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (its reaped children included), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(v) for v in fields[11:15]) / _TICK  # utime, stime, cutime, cstime


def child_pids(parent: int, word: str) -> list[int]:
    """Processes whose parent is ``parent`` and whose command line holds ``word`` (none where ``/proc`` is missing)."""
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and word in cmdline:
            found.append(int(entry.name))
    return found


def backend_cpu_s(store: db.Store, database: str) -> float | None:
    """CPU seconds of the server processes serving ``database`` now (``None``: not PostgreSQL, or not on this machine)."""
    if store.dialect != "postgresql":
        return None
    with store.engine.connect() as conn:
        pids = [int(p) for p in conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND "
                                                  "coalesce(application_name, '') <> :app"),
                                             {"db": database, "app": BENCH_APP}).scalars()]
    seconds = [proc_cpu_s(p) for p in pids]
    if any(s is None for s in seconds):
        return None
    return round(sum(s for s in seconds if s is not None), 3)


def quantiles(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    """``{"median", "p99", "max", "n"}`` of ``values`` (``None`` each when empty)."""
    if not values:
        return {"median": None, "p99": None, "max": None, "n": 0}
    arr = np.asarray(values, dtype=float)
    return {"median": round(float(np.median(arr)), digits), "p99": round(float(np.percentile(arr, 99)), digits),
            "max": round(float(arr.max()), digits), "n": int(arr.size)}


def _overlap_s(start: datetime, stop: datetime, lo: datetime, hi: datetime) -> float:
    return max((min(stop, hi) - max(start, lo)).total_seconds(), 0.0)


def ledger_window(store: db.Store, campaigns: Iterable[int], start: datetime, end: datetime,
                  busy_end: datetime) -> dict[str, Any]:
    """The ledger's account of the window (see the module docstring).

    Args:
        store: the run's ledger.
        campaigns: the run's campaign ids.
        start: the window's start (the first proposal; simulated clock).
        end: the throughput window's end (``start`` plus the bench's hours).
        busy_end: where busy time stops being counted (when the controller's CPU was last read).

    Returns:
        ``completed`` (inside ``[start, end]``), ``proposed``, ``decisions`` (made before ``busy_end``),
        ``busy_h`` (instrument-hours inside ``[start, busy_end]``), ``busy_h_by_kind``, ``jobs_by_kind``,
        ``lag_min`` (collection lag quantiles, simulated minutes), ``statuses`` (campaign status counts).
    """
    ids = list(campaigns)
    with store.session() as s:
        experiments = [e for cid in ids for e in db.list_experiments(s, cid)]
        decisions = [d for cid in ids for d in db.list_decisions(s, cid)]
        steps = [st for cid in ids for st in db.step_history(s, cid)]
        statuses = [db.get_campaign(s, cid).status for cid in ids]
    completed = sum(1 for e in experiments if any(
        (t := e.timestamps.get(k)) is not None and start <= t <= end for k in ("rewarded", "failed")))
    busy: dict[str, float] = {}
    jobs: dict[str, int] = {}
    lags: list[float] = []
    for st in steps:
        if st.acked_at is None:
            continue
        physical_end = st.acked_at + timedelta(seconds=step_duration_s(st.instrument_kind, st.command))
        busy[st.instrument_kind] = busy.get(st.instrument_kind, 0.0) + _overlap_s(st.acked_at, physical_end, start,
                                                                                    busy_end)
        jobs[st.instrument_kind] = jobs.get(st.instrument_kind, 0) + 1
        if st.done_at is not None:
            lags.append(max((st.done_at - physical_end).total_seconds(), 0.0) / 60.0)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return {"completed": completed, "proposed": sum(1 for e in experiments if e.timestamps["proposed"] <= end),
            "decisions": sum(1 for d in decisions if d.made_at <= busy_end),
            "busy_h": round(sum(busy.values()) / 3600.0, 3),
            "busy_h_by_kind": {k: round(v / 3600.0, 3) for k, v in sorted(busy.items())},
            "jobs_by_kind": dict(sorted(jobs.items())), "lag_min": quantiles(lags, 2), "statuses": counts}
