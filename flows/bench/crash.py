"""``lab bench crash``: kill workers with SIGKILL at random moments, then audit the ledger.

The bench serves the simulated lab in this process (:func:`flows.campaign.runtime.served_simulated_lab`, on
an accelerated clock, so the instruments and what they did outlive every worker), queues one
campaign in a scratch ledger and starts ``lab worker --once`` processes on it, one at a time,
against one Prefect API server (:func:`flows.bench.crash_procs.prefect_api`). Each worker is
killed with ``SIGKILL`` (its whole process group) at ``0.5 + u (W - 0.5)`` seconds after its
spawn, ``u`` drawn from ``random.Random(seed)``, where ``W`` is the median start-up measured so far
(spawn to campaign claim) plus ``engine_window_s``; the kill log tags what each kill interrupted,
from the ledger and the devices read just after it (start-up, dispatch, ingestion, analysis,
waiting). Should the campaign end before the kills are done, another is queued. A last worker
then runs to the end unkilled, and :mod:`flows.bench.ledger_check` audits every campaign against
the instruments.

Dispatch and ingestion take tens of milliseconds, so uniform moments almost never hit them (none of
20 did in a first run). A fraction ``armed`` of the kills (half by default) is therefore armed on
an event (:data:`flows.bench.crash_run.TRIGGERS`) and lands at the first one, or at its moment,
drawn over ``ARMED_EXTRA_S`` more seconds, if none comes first: an intent committed but not sent,
a job just started on an instrument (sent, not acknowledged), a furnace just unloaded (measurement
stored, step not done).

**Report** (JSON): ``kills``, ``lost`` (= ``lost_unfinished`` + ``lost_state``), ``duplicated``,
``inconsistent`` (targets 0, 0, 0), ``final_status``, ``experiments``, ``database``, ``wall_s``,
``machine``, ``kill_log`` (one entry per worker), ``issues`` and details. ``ok`` is true when the
audit is clean, every kill was delivered, the campaigns completed and no worker exited with an
error; the command exits 1 otherwise.

**Campaign** (:func:`bench_spec`): ``lab/examples/batio3.toml`` with ``experiments`` (16) in the
budget and no hours limit, policy ``sobol`` (proposals cost milliseconds: the bench measures crash
safety, not the policy), dwell 1-3 h and a 10 °C/min ramp (furnace programs of 4.1-9.4 h, 6.75 h on
average), so that at the default 300x a campaign takes about 6 minutes of real time, and a worker
restart (4-11 s measured on a loaded two-core machine) is 20-55 simulated minutes, as for a
controller a supervisor restarts at once. Faster clocks make every restart an outage of hours on
the campaign's clock (deadlines pass, heartbeats go stale): a harsher, also valid, test.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import db
from flows.bench.crash_procs import prefect_api, scratch_database
from flows.bench.crash_report import render, summarise
from flows.bench.crash_run import TRIGGERS, CrashRun
from flows.bench.ledger_check import check, read_devices, read_ledger
from flows.bench.machine import machine_info
from flows.bench.throughput import expected_durations_h
from flows.campaign.runtime import served_simulated_lab
from lab.spec import CampaignSpec, parse_spec

__all__ = ["bench_spec", "campaign_sim_s", "crash_bench", "render"]

_SPEC = """\
name = "crash bench (BaTiO3 variant)"
description = "lab/examples/batio3.toml with a fixed budget, sobol proposals and shorter furnace programs."
seed = {seed}
batch_size = 4
[budget]
experiments = {experiments}
[[parameters]]
name = "cations"
type = "composition"
elements = {{ Ba = [0.35, 0.65], Ti = [0.35, 0.65] }}
total = 1.0
[[parameters]]
name = "temperature_c"
type = "continuous"
low = {t_low}
high = {t_high}
[[parameters]]
name = "dwell_h"
type = "{dwell_type}"
low = {dwell_low}
high = {dwell_high}
[[parameters]]
name = "atmosphere"
type = "categorical"
choices = ["air", "O2", "N2"]
[[objectives]]
name = "target_fraction"
direction = "maximize"
[reward]
version = "v1"
terms = [{{ objective = "target_fraction", weight = 1.0 }}]
[policy]
name = "sobol"
[workflow]
kind = "solid_state"
composition = "cations"
temperature = "temperature_c"
dwell = "dwell_h"
atmosphere = "atmosphere"
precursors = {{ Ba = "BaCO3", Ti = "TiO2" }}
target_phase = "BaTiO3"
batch_mg = 1000.0
ramp_c_per_min = 10.0
two_theta = {two_theta}
[instruments]
dosing = ["doser"]
furnaces = ["furnace-1", "furnace-2", "furnace-3", "furnace-4"]
diffractometer = ["xrd"]
"""


#: Extra real seconds over which the fallback moment of an armed kill is drawn.
ARMED_EXTRA_S = 20.0


#: The campaign's knobs: ``full`` as in the module docstring; ``quick`` (tests, smoke runs) anneals
#: at 350-450 °C for 0.5-1 h, the furnace driver's shortest dwell (1.9-2.9 h programs; no BaTiO3
#: forms, the experiments are measured all the same) and scans 20-60° by 0.04° (8 min, not 31).
VARIANTS = {
    "full": {"t_low": 700.0, "t_high": 1350.0, "dwell_type": "integer", "dwell_low": 1, "dwell_high": 3,
             "two_theta": [10.0, 80.0, 0.02]},
    "quick": {"t_low": 350.0, "t_high": 450.0, "dwell_type": "continuous", "dwell_low": 0.5, "dwell_high": 1.0,
              "two_theta": [20.0, 60.0, 0.04]},
}


def bench_spec(experiments: int = 16, seed: int = 0, quick: bool = False) -> tuple[str, CampaignSpec]:
    """The benchmark campaign (TOML text and parsed spec); see the module docstring and :data:`VARIANTS`."""
    text = _SPEC.format(seed=seed, experiments=int(experiments), **VARIANTS["quick" if quick else "full"])
    return text, parse_spec(text, source="<crash bench>")


def campaign_sim_s(spec: CampaignSpec) -> float:
    """Rough simulated length of one campaign (seconds): furnace rounds plus the dosing and scan queues."""
    dur = expected_durations_h(spec)
    n, furnaces = spec.budget.experiments or 1, len(spec.instruments.furnaces)
    return 3600.0 * (math.ceil(n / furnaces) * dur["furnace"] + n * dur["dosing"] + furnaces * dur["xrd"])


def crash_bench(kills: int = 20, seed: int = 0, db_url: str | None = None, speed: float = 300.0,
                out: Path | None = None, experiments: int = 16, quick: bool = False, engine_window_s: float = 10.0,
                armed: float = 0.5, keep: bool = False, prefect_api_url: str | None = None,
                say: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Run the crash benchmark; returns the report (JSON-able). See the module docstring.

    Args:
        kills: SIGKILLs to deliver (each to a fresh worker).
        seed: seeds the kill moments, the campaign and the simulated lab.
        db_url: ``None`` (SQLite in ``out``), a SQLite URL, or a PostgreSQL server URL (a scratch
            database is created there and dropped at the end unless ``keep``).
        speed: simulated seconds per real second.
        out: folder for the ledger, lab file and worker logs (default: a temporary folder, removed
            at the end unless ``keep`` or the audit failed).
        experiments: the campaign's experiment budget.
        quick: run the ``quick`` campaign variant (short furnace programs and scans).
        engine_window_s: real seconds past the measured start-up over which kill moments are drawn.
        armed: the fraction of kills armed on an event (``crash_run.TRIGGERS``, chosen at random),
            with a moment drawn over ``ARMED_EXTRA_S`` more seconds as the fallback.
        keep: keep the scratch PostgreSQL database and the temporary folder.
        prefect_api_url: a running Prefect API for the workers (default: start one for the run).
        say: called with one line per worker (progress).
    """
    t0 = time.perf_counter()
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="lab-crash-"))
    folder.mkdir(parents=True, exist_ok=True)
    text, spec = bench_spec(experiments, seed, quick)
    load = os.getloadavg()[0]
    try:
        report = _bench(folder, text, spec, kills, random.Random(seed), db_url, speed, engine_window_s, armed, keep,
                        prefect_api_url, say)
    except BaseException:
        if out is None and not keep and not (folder / "workers").exists():  # nothing worth a look yet
            shutil.rmtree(folder, ignore_errors=True)
        raise
    report["ok"] = report["ok"] and report["kills"] >= kills and report["worker_failures"] == 0
    report.update({"kills_asked": kills, "speed": speed, "seed": seed, "experiments_budget": experiments,
                   "variant": "quick" if quick else "full", "policy": spec.policy.name,
                   "engine_window_s": engine_window_s, "armed": armed, "out": str(folder),
                   "wall_s": round(time.perf_counter() - t0, 1),
                   "machine": {**machine_info(), "cpus": os.cpu_count(), "load_avg_at_start": round(load, 2)}})
    if out is None and not keep and report["ok"]:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _bench(folder: Path, text: str, spec: CampaignSpec, kills: int, rng: random.Random, db_url: str | None,
           speed: float, engine_window_s: float, armed: float, keep: bool, prefect_api_url: str | None,
           say: Callable[[str], None]) -> dict[str, Any]:
    """The run itself: scratch database, Prefect API and served lab up, kills, final worker, audit."""
    with scratch_database(db_url, folder, keep) as url, prefect_api(prefect_api_url, folder) as api, \
            served_simulated_lab(folder / "lab.toml", speed=speed, seed=spec.seed, roles=spec.instruments) as lab:
        store = db.open_store(url)
        try:
            run = CrashRun(store, lab, text, spec, folder, folder / "lab.toml", api, say)
            run.queue()
            report = _drive(run, kills, rng, engine_window_s, armed, speed)
            result = check(read_ledger(store, run.campaigns), read_devices(lab.devices))
            report.update(summarise(run, result, store.dialect), store=store.masked_url)
        finally:
            store.dispose()
    return report


def _drive(run: CrashRun, kills: int, rng: random.Random, engine_window_s: float, armed: float,
           speed: float) -> dict[str, Any]:
    done = failures = 0
    while done < kills and len(run.log) < 3 * kills + 10:  # bounded, should workers keep ending by themselves
        if run.statuses()[-1] not in ("queued", "running"):
            run.queue()
        trigger = rng.choice(TRIGGERS[1:]) if rng.random() < armed else "moment"
        window = run.window_s(engine_window_s) + (ARMED_EXTRA_S if trigger != "moment" else 0.0)
        moment = 0.5 + rng.random() * (window - 0.5)
        worker = run.spawn()
        try:
            watch = run.run_until(worker, moment, trigger)
        finally:
            if worker.poll() is None:
                worker.kill()
        done += watch.rc is None
        failures += watch.rc not in (None, 0)
        entry = run.record("kill" if watch.rc is None else "exit", worker, watch.at_s, watch.startup_s, rc=watch.rc,
                           trigger=trigger, fired=watch.fired, moment_s=round(moment, 2))
        run.say(f"{entry['event']} {done}/{kills} at {entry['at_s']:.2f} s, {trigger}{' fired' if watch.fired else ''} "
                f"({'; '.join(entry['phase'])}); experiments {entry['experiments']}")
    timeout = 120.0 + 3.0 * campaign_sim_s(run.spec) / speed
    worker = run.spawn()
    try:
        rc = worker.wait(timeout)
    finally:
        if worker.poll() is None:
            worker.kill()
    failures += rc != 0
    run.record("final", worker, worker.elapsed_s, None, rc=rc, timeout_s=round(timeout, 1))
    run.say(f"final worker {'timed out' if rc is None else f'exited {rc}'} after {worker.elapsed_s:.1f} s")
    return {"kills": done, "worker_failures": failures}
