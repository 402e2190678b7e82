"""``lab bench faults``: a simulated campaign with faults on every wire, then an audit of the ledger.

The campaign is the throughput bench's (:func:`flows.bench.throughput.bench_spec`: four furnaces
with 2-8 h programs, one dosing station, one diffractometer, policy ``sobol``; proposals stop after
``hours``), run by the :class:`~flows.campaign.engine.CampaignEngine` on the simulated lab
(pseudo-terminals, a simulated clock, the real drivers) as :func:`flows.campaign.flow.run_campaign`
configures it, until every experiment has ended (or ``drain_h`` more simulated hours have passed).

**Faults** (:class:`~flows.campaign.fault_settings.FaultSettings`, as a lab file's ``[faults]``
table): every instrument draws a reply fault for each command line with probability ``rate``,
split evenly over no reply, late reply, garbled reply, dropped connection and device error; a job
gets stuck with probability ``stuck`` (default ``rate``) per job start; and the instruments are
restarted at ``restarts_per_day`` per simulated day over the whole lab (a Poisson process per
instrument at an equal share of the rate): the device forgets the running job, its staged setpoints
and its error queue, keeps its finished jobs and its clock, and the connection drops. The drivers'
read timeout is ``timeout_s`` and a late reply comes ``late_s`` after the command (later than the
timeout), both real seconds: a bench's wall time is mostly these waits.

**Report** (JSON): ``injected``, ``recovered``, ``accounted`` and ``unaccounted`` per fault class;
``failed`` and ``lost`` (experiments, with their reasons and the faults accounted to them);
``silent_drops`` (target 0) with ``silent_drop_details``; ``duplicated`` and ``inconsistent``
(target 0) with ``issues``: see :mod:`flows.bench.fault_audit`. ``throughput``: experiments
completed (rewarded or failed) inside the window against the physical limit of the same lab
(:func:`flows.bench.throughput.physical_limit`, which assumes no faults). Also ``controller_events``
(the ledger's warnings by kind), ``settings``, ``wall_s``, ``machine``; ``ok`` is true when silent
drops, duplicates and inconsistencies are all 0.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow

import db
from flows.bench.crash_procs import scratch_database
from flows.bench.fault_audit import audit
from flows.bench.ledger_check import read_devices, read_ledger
from flows.bench.machine import machine_info
from flows.bench.throughput import bench_spec, physical_limit
from flows.campaign import instrument_calls
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.fault_settings import FAULT_CLASSES, FaultSettings
from flows.campaign.runtime import fault_counts, injected_faults, simulated_rig
from lab.clock import DEFAULT_SIM_START
from lab.experiment import ExperimentState
from lab.spec import CampaignSpec
from policies.registry import make_policy

__all__ = ["fault_bench", "fault_bench_flow"]


def fault_bench(hours: float = 72.0, rate: float = 0.02, seed: int = 0, db_url: str | None = None,
                stuck: float | None = None, restarts_per_day: float = 2.0, timeout_s: float = 0.3,
                late_s: float = 0.5, drain_h: float = 48.0) -> dict[str, Any]:
    """Run the benchmark; returns the report (JSON-able). See the module docstring.

    Args:
        hours: the simulated window: proposals stop after it (hours).
        rate: probability per command line of a reply fault (0-1).
        seed: seeds the campaign, the simulated lab and the fault draws.
        db_url: ``None`` (SQLite in a temporary folder), a SQLite URL, or a PostgreSQL server URL
            (a scratch database is created there and dropped at the end).
        stuck: probability per job start of a stuck job (default: ``rate``).
        restarts_per_day: device restarts per simulated day over the whole lab.
        timeout_s: the drivers' read timeout (real seconds).
        late_s: delay of a late reply (real seconds; above ``timeout_s``).
        drain_h: simulated hours after the window for the experiments in flight to end.
    """
    t0 = time.perf_counter()
    settings = FaultSettings(rate=rate, stuck=rate if stuck is None else stuck, restarts_per_day=restarts_per_day,
                             late_s=late_s, seed=seed)
    with tempfile.TemporaryDirectory(prefix="lab-faults-") as folder, scratch_database(db_url, Path(folder)) as url:
        report = fault_bench_flow(hours, seed, db.store_handle(url), settings, timeout_s, drain_h)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["machine"] = machine_info()
    return report


@flow(name="bench-faults", log_prints=False, validate_parameters=False)
def fault_bench_flow(hours: float, seed: int, handle: str, settings: FaultSettings, timeout_s: float,
                     drain_h: float) -> dict[str, Any]:
    """The run and its audit, on the (fresh) store ``handle`` names; the report without wall time and machine.

    ``handle`` is the store's handle (``db.store_handle``: its URL without the password, which Prefect
    would keep with the flow run's parameters).
    """
    text, spec = bench_spec(hours / 24.0, seed)
    start = DEFAULT_SIM_START
    end = start + timedelta(hours=hours)
    store = db.open_handle(handle)
    saved = list(instrument_calls.RETRY_DELAYS)
    try:
        with store.session() as s:
            cid = db.create_campaign(s, name=f"{spec.name} (faults)", spec_toml=text, spec=spec.to_store_dict(),
                                     seed=spec.seed, reward=spec.reward_definition(), at=start)
        with simulated_rig(spec, seed=spec.seed, start=start, faults=settings, timeout_s=timeout_s) as rig:
            assert rig.lab is not None  # a simulated rig has its lab
            instrument_calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]  # as run_campaign does on a simulated rig
            engine = CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy(spec.policy.name, **spec.policy.options),
                                    EngineSettings(poll_interval_s=3600.0))
            run_t0 = time.perf_counter()
            status = engine.run(should_stop=lambda: rig.clock.now() >= end + timedelta(hours=drain_h))
            run_wall = time.perf_counter() - run_t0
            finished_at = rig.clock.now()
            faults = injected_faults(rig.lab)
            counts = fault_counts(rig.lab)
            devices = read_devices(rig.lab.devices)
        injected = {k: sum(c[k] for c in counts.values()) for k in FAULT_CLASSES}
        found = audit(read_ledger(store, [cid]), devices, faults, injected)
        report = {"hours": hours, "seed": seed, "rate": settings.rate, "settings": asdict(settings),
                  "timeout_s": timeout_s, "status": status, "finished_at": finished_at.isoformat(),
                  **found.report(), "injected_by_instrument": counts,
                  "throughput": _throughput(store, cid, spec, start, end),
                  "controller_events": _events(store, cid), "run_wall_s": round(run_wall, 1), "store": store.masked_url}
        report["ok"] = report["silent_drops"] == 0 and report["duplicated"] == 0 and report["inconsistent"] == 0
        return report
    finally:
        instrument_calls.RETRY_DELAYS[:] = saved
        store.dispose()


def _throughput(store: db.Store, cid: int, spec: CampaignSpec, start: datetime, end: datetime) -> dict[str, Any]:
    """Experiments completed (rewarded or failed) and lost inside the window, against the physical limit."""
    with store.session() as s:
        experiments = db.list_experiments(s, cid)

    def inside(e: db.ExperimentInfo, *states: str) -> bool:
        return any(e.timestamps.get(k) is not None and e.timestamps[k] <= end for k in states)

    completed = sum(1 for e in experiments if inside(e, "rewarded", "failed"))
    limit = physical_limit(spec, (end - start).total_seconds() / 86400.0)
    return {"completed": completed, "lost_in_window": sum(1 for e in experiments if inside(e, "lost")),
            "proposed": sum(1 for e in experiments if e.timestamps["proposed"] <= end),
            "experiments": len(experiments),
            "rewarded": sum(1 for e in experiments if e.state is ExperimentState.REWARDED),
            "physical_limit": round(limit.value, 3),
            "ratio": round(completed / limit.value, 4) if limit.value > 0 else 0.0, "limit": asdict(limit)}


def _events(store: db.Store, cid: int) -> dict[str, int]:
    """The ledger's events of the campaign, by kind (poll and dispatch failures, losses...)."""
    with store.session() as s:
        return dict(sorted(Counter(e.kind for e in db.list_events(s, cid)).items()))
