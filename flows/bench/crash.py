"""``lab bench crash``: kill workers with SIGKILL at random moments, disrupt the lab and the database, audit the ledger.

The bench serves the simulated lab in this process (:func:`flows.campaign.runtime.served_simulated_lab`, on
an accelerated clock, so the instruments and what they did outlive every worker), queues campaigns
in a scratch ledger and runs ``workers`` ``lab worker`` processes on it, each under its own name,
against one Prefect API server (:func:`flows.bench.crash_procs.prefect_api`). Each worker is killed
with ``SIGKILL`` (its whole process group) at random moments and restarted at once under its name
(:mod:`flows.bench.crash_drive`: the moments, the kills armed on dispatch and ingestion events, the
final phase); the kill log tags what each kill interrupted (start-up, idle, dispatch, ingestion,
analysis, waiting). Beside the kills (:mod:`flows.bench.crash_disrupt`): ``lab_kills`` power cycles
of the whole served lab, ``db_drops`` terminations of every connection to the ledger's database,
``pg_restart`` crashes and restarts of a private PostgreSQL server (:mod:`flows.bench.pg_private`).
Then every campaign runs to its end unkilled, the workers are stopped cleanly, and the ledger is
audited against the instruments (:mod:`flows.bench.ledger_check`), the cut jobs accounted for
(:mod:`flows.bench.power_cuts`) and the intent log searched for double claims
(:mod:`flows.bench.double_claims`). The scenario's options: :mod:`flows.bench.crash_options`.

**Report** (JSON): ``kills``, ``lost`` (= ``lost_unfinished`` + ``lost_state``, the lost experiments no
power cut explains), ``duplicated``, ``inconsistent`` (cut jobs unaccounted for included),
``double_claims`` (targets 0 each), ``lost_to_power_cuts`` (accounted, with their reasons),
``handovers``, ``disruptions``, ``final_status``, ``experiments``, ``database``, ``wall_s``,
``machine``, ``kill_log`` (one entry per worker), ``issues`` and details. ``ok`` is true when the
audit is clean, every kill and disruption was delivered, the campaigns completed and no worker
exited with an error; the command exits 1 otherwise.

**Campaign** (:func:`bench_spec`): ``lab/examples/batio3.toml`` with ``experiments`` (16) in the
budget and no hours limit, policy ``sobol`` (proposals cost milliseconds: the bench measures crash
safety, not the policy), dwell 1-3 h and a 10 °C/min ramp (furnace programs of 4.1-9.4 h, 6.75 h on
average), so that at the default 300x a campaign takes about 6 minutes of real time (alone on the
lab's four furnaces; campaigns side by side share them), and a worker restart (4-11 s measured on a
loaded two-core machine) is 20-55 simulated minutes, as for a controller a supervisor restarts at
once. Faster clocks make every restart an outage of hours on the campaign's clock (deadlines pass,
heartbeats go stale): a harsher, also valid, test.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

import db
from flows.bench.crash_disrupt import Disruptor, drop_connections, power_cycle_lab
from flows.bench.crash_drive import DrivePlan, drive
from flows.bench.crash_options import DEFAULT_LEASE_S, CrashOptions, crash_options
from flows.bench.crash_procs import prefect_api, scratch_database
from flows.bench.crash_report import audit, render
from flows.bench.crash_run import CrashRun
from flows.bench.machine import machine_info
from flows.bench.pg_private import private_postgres
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
                say: Callable[[str], None] = lambda text: None, workers: int = 1, campaigns: int | None = None,
                lease_s: float = DEFAULT_LEASE_S, lab_kills: int = 0, db_drops: int = 0,
                pg_restart: int = 0) -> dict[str, Any]:
    """Run the crash benchmark; returns the report (JSON-able). See the module docstring.

    Args:
        kills: SIGKILLs to deliver, over all workers (each kill ends one worker process).
        seed: seeds the kill moments, the disruptions, the campaign and the simulated lab.
        db_url: ``None`` (SQLite in ``out``), a SQLite URL, or a PostgreSQL server URL (a scratch
            database is created there and dropped at the end unless ``keep``).
        speed: simulated seconds per real second.
        out: folder for the ledger, lab file and worker logs (default: a temporary folder, removed
            at the end unless ``keep`` or the audit failed).
        experiments: each campaign's experiment budget.
        quick: run the ``quick`` campaign variant (short furnace programs and scans).
        engine_window_s: real seconds past the measured start-up over which kill moments are drawn.
        armed: the fraction of kills armed on an event (``crash_watch.TRIGGERS``, chosen at random),
            with a moment drawn over ``ARMED_EXTRA_S`` more seconds as the fallback.
        keep: keep the scratch PostgreSQL database and the temporary folder.
        prefect_api_url: a running Prefect API for the workers (default: start one for the run).
        say: called with one line per worker and disruption (progress).
        workers: worker processes side by side, each under its own name.
        campaigns: campaigns kept queued or running while kills remain (default: see ``crash_options``).
        lease_s: the workers' lease (wall-clock seconds).
        lab_kills: power cycles of the served lab, mid-campaign.
        db_drops: terminations of every connection to the ledger's database (PostgreSQL).
        pg_restart: restarts of a private PostgreSQL server the ledger then lives on (``db_url`` must be None).

    Raises:
        FlowError: options that do not fit together (:func:`~flows.bench.crash_options.crash_options`).
    """
    opts = crash_options(kills, workers, campaigns, lease_s, lab_kills, db_drops, pg_restart, db_url)
    t0 = time.perf_counter()
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="lab-crash-"))
    folder.mkdir(parents=True, exist_ok=True)
    text, spec = bench_spec(experiments, seed, quick)
    load = os.getloadavg()[0]
    try:
        report = _bench(folder, text, spec, opts, random.Random(seed), speed, engine_window_s, armed, keep,
                        prefect_api_url, say)
    except BaseException:
        if out is None and not keep and not (folder / "workers").exists():  # nothing worth a look yet
            shutil.rmtree(folder, ignore_errors=True)
        raise
    disruptions = report["disruptions"]
    report["ok"] = report["ok"] and report["kills"] >= kills and report["worker_failures"] == 0 \
        and disruptions["delivered"] == disruptions["asked"]
    report.update({"kills_asked": kills, "workers": opts.workers, "campaigns_kept": opts.campaigns,
                   "max_campaigns": opts.max_campaigns, "lease_s": opts.lease_s, "speed": speed, "seed": seed,
                   "experiments_budget": experiments, "variant": "quick" if quick else "full",
                   "policy": spec.policy.name, "engine_window_s": engine_window_s, "armed": armed, "out": str(folder),
                   "wall_s": round(time.perf_counter() - t0, 1),
                   "machine": {**machine_info(), "cpus": os.cpu_count(), "load_avg_at_start": round(load, 2)}})
    if out is None and not keep and report["ok"]:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _bench(folder: Path, text: str, spec: CampaignSpec, opts: CrashOptions, rng: random.Random, speed: float,
           engine_window_s: float, armed: float, keep: bool, prefect_api_url: str | None,
           say: Callable[[str], None]) -> dict[str, Any]:
    """The run itself: database, Prefect API and served lab up, kills and disruptions, final phase, audit."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(private_postgres(keep)) if opts.pg_restart else None
        base = server.url if server is not None else opts.db_url
        url = stack.enter_context(scratch_database(base, folder, keep))
        api = stack.enter_context(prefect_api(prefect_api_url, folder))
        lab = stack.enter_context(served_simulated_lab(folder / "lab.toml", speed=speed, seed=spec.seed,
                                                       roles=spec.instruments))
        store = db.open_store(url)
        stack.callback(store.dispose)
        run = CrashRun(store, lab, text, spec, folder, folder / "lab.toml", api, say, opts.lease_s, opts.max_campaigns)
        actions: dict[str, Callable[[], Any]] = {"lab_power_cycle": lambda: {"cut": power_cycle_lab(lab)}}
        if base is not None and opts.postgres:
            database = str(make_url(url).database)
            actions["db_drop"] = lambda: {"terminated": drop_connections(base, database)}
        if server is not None:
            actions["pg_restart"] = lambda: {"restarts": server.restart()}
        disruptor = Disruptor({"lab_power_cycle": opts.lab_kills, "db_drop": opts.db_drops,
                               "pg_restart": opts.pg_restart}, opts.kills, rng, actions,
                              sim_time=lambda: f"{lab.clock.now():%Y-%m-%d %H:%M}")
        for _ in range(opts.campaigns):
            run.queue()
        final_timeout = 120.0 + 3.0 * opts.campaigns * campaign_sim_s(spec) / speed
        plan = DrivePlan(opts.kills, opts.workers, opts.campaigns, engine_window_s, armed, final_timeout)
        report = drive(run, plan, rng, disruptor)
        report.update(audit(run, opts.lease_s, store.dialect), disruptions=disruptor.summary(), store=store.masked_url)
    return report
