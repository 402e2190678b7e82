"""``lab bench scale``: what the controller costs on a lab of N instruments running C campaigns, with W workers.

For each worker count W (and each extra configuration) the bench makes a fresh PostgreSQL
database (:func:`flows.bench.crash_procs.scratch_database`: ``lab_crash_<random>`` on the server
``--db`` names, dropped after the run), serves a fresh simulated lab of N instruments
(:mod:`flows.bench.scale_lab`) on loopback sockets on an accelerated clock
(:func:`flows.campaign.runtime.served_simulated_lab`, shared with the workers through the lab
file's ``[clock]`` table), starts W real ``lab worker --quiet`` processes against one Prefect API
server (:func:`flows.bench.crash_procs.prefect_api`), each through :mod:`flows.bench.scale_probe`
(commit latencies, rounds), waits until every worker holds its name in the store, reads their CPU
time and probe counts, queues the C campaigns, reads them again ``hours`` simulated hours after
the first proposal (or when every campaign has ended), and stops the workers. Every figure is
taken over that window: start-up is left out.

**Models** (:data:`flows.bench.scale_figures.MODELS`): ``shared``, every worker connects to every
instrument of the one served lab and the instruments are shared through the ledger; ``split``,
each worker's lab file holds a share of every kind (:mod:`flows.bench.scale_split`) and each step
runs on the worker holding its instrument (:mod:`flows.campaign.hosting`). In both the campaigns
are split across the workers by their own claims (``--max-campaigns`` = ceil(C / W) each).

**Figures** per run (one JSON entry each, also under ``by_workers`` for the main configuration):

* ``controller_cpu_s``: user + system CPU seconds of the worker processes from the queueing to the
  stop (:func:`~flows.bench.scale_measure.proc_cpu_s`; start-up excluded, reported apart), per
  decision, per experiment completed, and per instrument-hour of busy time;
* ``controller_fraction``: that CPU time over the instruments' busy time in the same span (simulated
  seconds of the devices' physical jobs, :func:`~flows.bench.scale_measure.ledger_window`); per
  campaign tick (``cpu_ms_per_tick``: one campaign's turn in a worker's round). On a
  wall clock a worker makes at least one round a minute (its wait is capped at 60 s); a worker
  that made fewer rounds per simulated hour here was saturated by the accelerated clock, so
  ``controller_fraction_real_time`` scales that worker's CPU up by 60 / (its rounds per hour), a
  conservative projection to a lab running in real time (the fraction itself where it kept up);
* ``write_latency_ms``: median and p99 of the workers' ledger write commits (:mod:`~flows.bench.scale_probe`);
* ``throughput_ratio``: experiments completed in the window over the physical limit
  (:func:`~flows.bench.scale_lab.scale_limit`), beside ``ideal_ratio`` (a perfect scheduler's);
* ``double_claims`` (:mod:`flows.bench.double_claims`; per host in the split model), ``lag_min`` (how far the controller trailed
  the instruments), ``database_cpu_s`` (the PostgreSQL backends', a lower bound), ``other_cpu_s``
  (this process, which serves the simulated lab, and the bench's Prefect server, over the window),
  ``worker_cores`` (the workers' CPU seconds per real second of the window), ``load_average``.

**Targets** (:func:`~flows.bench.scale_figures.targets`): controller time at most 1 % of instrument time (both fractions, every
run); throughput does not fall as workers are added (each ratio at least the previous one's minus
0.02: once at the limit there is nothing left to grow into); no double claims.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

import db
from db.errors import mask_url
from flows.bench.crash_procs import prefect_api, scratch_database
from flows.bench.double_claims import audit_claims, read_intents
from flows.bench.machine import machine_info
from flows.bench.scale_figures import MODELS, ScaleConfig, row, targets
from flows.bench.scale_lab import auto_budget, lab_shape, scale_limit, scale_spec
from flows.bench.scale_measure import BENCH_APP, backend_cpu_s, child_pids, ledger_window, proc_cpu_s
from flows.bench.scale_split import audit_by_host, split_lab_files
from flows.bench.scale_workers import ScaleWorker, wait_registered
from flows.campaign.runtime import served_simulated_lab
from flows.errors import FlowError
from policies.registry import make_policy

__all__ = ["DEFAULT_PG_URL", "ScaleConfig", "run_once", "scale_bench"]

#: The PostgreSQL server the bench uses without ``--db`` (a fresh database is made there per run).
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: Real seconds the first proposal may take after the campaigns are queued.
FIRST_PROPOSAL_TIMEOUT_S = 120.0


def _with_app(url: str) -> str:
    return make_url(url).update_query_dict({"application_name": BENCH_APP}).render_as_string(hide_password=False)


def _first_proposal(store: db.Store, campaigns: list[int], timeout_s: float) -> datetime:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.session() as s:
            made = [d.made_at for cid in campaigns for d in db.list_decisions(s, cid)]
        if made:
            return min(made)
        time.sleep(0.25)
    raise FlowError(f"no campaign proposed anything within {timeout_s:g} s of being queued")


def _ended(store: db.Store, campaigns: list[int]) -> bool:
    with store.session() as s:
        return all(db.get_campaign(s, cid).status in ("completed", "cancelled", "failed") for cid in campaigns)


def _others() -> dict[str, float]:
    """CPU seconds so far of this process (the served lab's simulators, the bench's reads) and of the Prefect server."""
    seconds = {"simulated_lab_and_bench": proc_cpu_s(os.getpid())}
    servers = child_pids(os.getpid(), "prefect.server")
    seconds["prefect_server"] = proc_cpu_s(servers[0]) if servers else None
    return {k: v for k, v in seconds.items() if v is not None}


def _in_window(final: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A worker's rounds, round seconds and commit latencies between two live readings of its probe."""
    lo, hi = before.get("commits", 0), after.get("commits", 0)
    return {"rounds": after.get("rounds", 0) - before.get("rounds", 0),
            "round_s": after.get("round_s", 0.0) - before.get("round_s", 0.0),
            "commit_ms": final.get("commit_ms", [])[lo:hi], "cpu_s": final.get("cpu_s"), "clean_exit": bool(final)}


def run_once(cfg: ScaleConfig, workers: int, base_url: str, api_url: str, folder: Path,
             say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """One run of ``cfg`` with ``workers`` worker processes in ``folder``; returns its JSON entry (module docstring)."""
    shape = lab_shape(cfg.instruments)
    _, first = scale_spec(shape, 1, 1, cfg.seed, cfg.policy, cfg.quick)
    limit = scale_limit(first, cfg.hours)
    budget = cfg.experiments or auto_budget(limit["value"], cfg.campaigns)
    specs = [scale_spec(shape, i, budget, cfg.seed, cfg.policy, cfg.quick) for i in range(1, cfg.campaigns + 1)]
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"scale-{workers}w-{i}" for i in range(1, workers + 1)]
    t_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(scratch_database(base_url, folder))
        store = db.open_store(_with_app(url))
        stack.callback(store.dispose)
        lab = stack.enter_context(served_simulated_lab(folder / "lab.toml", speed=cfg.speed, seed=cfg.seed,
                                                       roles=shape.roles()))
        files, share_of = split_lab_files(folder / "lab.toml", workers, folder) if cfg.model == "split" \
            else ([folder / "lab.toml"] * workers, {})
        per_worker = math.ceil(cfg.campaigns / workers)
        procs = [ScaleWorker(folder, f, url, api_url, name, per_worker, cfg.lease_s) for f, name in zip(files, names)]
        stack.callback(lambda: [p.stop() for p in procs])
        startup_s = wait_registered(store, procs)
        cpu0, live0, others0 = [proc_cpu_s(p.proc.pid) or 0.0 for p in procs], [p.live() for p in procs], _others()
        with store.session() as s:
            cids = [db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                       reward=spec.reward_definition(), at=lab.clock.now()) for text, spec in specs]
        say(f"{cfg.instruments} instruments, {cfg.campaigns} campaigns x {budget} experiments, {workers} worker(s) "
            f"({cfg.model}, {cfg.policy}): up in {startup_s:.1f} s; running {cfg.hours:g} simulated hours at {cfg.speed:g}x")
        queued = time.perf_counter()
        t0 = _first_proposal(store, cids, FIRST_PROPOSAL_TIMEOUT_S)
        timing: dict[str, Any] = {"startup_s": round(startup_s, 2),
                                  "first_proposal_s": round(time.perf_counter() - queued, 2)}
        end = t0 + timedelta(hours=cfg.hours)
        while lab.clock.now() < end and not _ended(store, cids):
            time.sleep(min(1.0, max((end - lab.clock.now()).total_seconds() / cfg.speed, 0.05)))
        stop_at = lab.clock.now()
        cpu1, live1, others1 = [proc_cpu_s(p.proc.pid) or 0.0 for p in procs], [p.live() for p in procs], _others()
        database_cpu = backend_cpu_s(store, str(make_url(url).database))
        stopping = time.perf_counter()
        for p in procs:
            p.terminate()  # all at once: each finishes its round, then they are waited for
        for p in procs:
            p.stop()
        timing["stop_s"] = round(time.perf_counter() - stopping, 2)
        probes = [_in_window(p.probe(), a, b) for p, a, b in zip(procs, live0, live1)]
        ledger = ledger_window(store, cids, t0, end, stop_at)
        intents = read_intents(store, cids)
        claims = audit_by_host(intents, share_of, names, cfg.lease_s) if share_of \
            else audit_claims(intents, cfg.lease_s).to_dict()
    window_h = (stop_at - t0).total_seconds() / 3600.0
    timing["other_cpu_s"] = {k: round(others1[k] - others0[k], 3) for k in others0 if k in others1}
    return row(cfg, workers, shape.to_dict(), budget, limit, ledger, claims, probes,
               [b - a for a, b in zip(cpu0, cpu1)], window_h, timing, database_cpu, time.perf_counter() - t_start)


def scale_bench(cfg: ScaleConfig, workers: tuple[int, ...] = (1, 2, 4), db_url: str | None = None,
                growth: tuple[int, int] | None = None, policies: tuple[str, ...] = (),
                prefect_api_url: str | None = None, out: Path | None = None,
                say: Callable[[str], None] = lambda line: None,
                checkpoint: Callable[[dict[str, Any]], None] = lambda report: None) -> dict[str, Any]:
    """Run every configuration; returns the report (JSON-able). See the module docstring.

    Args:
        cfg: the main configuration, run at every worker count.
        workers: the worker counts.
        db_url: a PostgreSQL server URL (default :data:`DEFAULT_PG_URL`); each run makes its own database there.
        growth: ``(instruments, campaigns)`` of a smaller configuration, also run at every worker count.
        policies: more policies for the main configuration, each run at the largest worker count.
        prefect_api_url: a running Prefect API for the workers (default: start one for the bench).
        out: folder for lab files and worker logs (default: a temporary one, removed unless a run failed).
        say: called with one line per run (progress).
        checkpoint: called with the report so far after each run (the CLI writes the JSON there).

    Raises:
        FlowError: a URL that is not PostgreSQL, a bad worker count, lab size, model or policy, or a run that could
            not start (a worker that did not come up, no proposal).
    """
    base = db_url or DEFAULT_PG_URL
    if make_url(base).get_backend_name() != "postgresql":
        raise FlowError(f"--db {mask_url(base)}: lab bench scale runs on PostgreSQL (give a postgresql+psycopg:// URL)")
    if not workers or min(workers) < 1:
        raise FlowError(f"--workers {','.join(map(str, workers))}: expected worker counts of 1 or more")
    if cfg.model not in MODELS:
        raise FlowError(f"--model {cfg.model!r}: expected one of {', '.join(MODELS)}")
    for n in {cfg.instruments, *([growth[0]] if growth else [])}:
        if cfg.model == "split" and max(workers) > lab_shape(n).total:
            raise FlowError(f"--workers {max(workers)}: more workers than the {n} instruments to split among them")
    for name in (cfg.policy, *policies):
        make_policy(name)  # an unknown policy fails before anything starts
    plan = [(cfg, w) for w in workers] + [(replace(cfg, policy=p), max(workers)) for p in policies]
    if growth is not None:
        plan += [(replace(cfg, instruments=growth[0], campaigns=growth[1]), w) for w in workers]
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="lab-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report: dict[str, Any] = {"bench": "scale", "model": cfg.model, "model_text": MODELS[cfg.model],
                              "database": mask_url(base), "config": asdict(cfg), "workers": list(workers),
                              "growth": list(growth) if growth else None, "policies": list(policies), "runs": [],
                              "by_workers": {}, "out": str(folder)}
    with prefect_api(prefect_api_url, folder) as api:
        for n, (run_cfg, w) in enumerate(plan, 1):
            entry = run_once(run_cfg, w, base, api, folder / f"run-{n:02d}", say)
            report["runs"].append(entry)
            if run_cfg == cfg:
                report["by_workers"][str(w)] = entry
            report.update(targets=targets(report["runs"], cfg), machine=machine_info(),
                          wall_s=round(time.perf_counter() - t0, 1), complete=n == len(plan))
            checkpoint(report)
    if out is None:
        shutil.rmtree(folder, ignore_errors=True)
    return report
