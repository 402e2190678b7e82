"""The figures of one ``lab bench scale`` run, and the targets: the configuration, each run's JSON entry, pass/fail.

See :mod:`flows.bench.scale` for what each figure means. Two models of sharing the lab (:data:`MODELS`):

* ``shared``: every worker connects to every instrument of the one served lab; the campaigns are
  split across the workers by their claims (``--max-campaigns`` = ceil(C / W) each); the
  instruments are shared through the ledger (a step goes only to an instrument no other step
  holds, whoever's campaign it is);
* ``split``: each worker's lab file holds a share of every kind (:mod:`flows.bench.scale_split`), and
  every campaign's steps run on whichever worker holds their instrument
  (:mod:`flows.campaign.hosting`); the campaigns are split by claims as above.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flows.bench.scale_measure import quantiles
from flows.campaign.lease import LEASE_S

__all__ = ["MODELS", "REAL_TIME_ROUNDS_PER_H", "ScaleConfig", "row", "targets"]

MODELS = {
    "shared": "shared lab, campaigns split: every worker connects to every instrument of one served lab; the "
              "campaigns are split across the workers by their claims (--max-campaigns ceil(C/W) each); instruments "
              "are shared through the ledger",
    "split": "lab split by instrument: each worker's lab file holds a share of every kind; every campaign's steps run "
             "on whichever worker holds their instrument; the campaigns are split across the workers by their claims "
             "(--max-campaigns ceil(C/W) each)",
}
#: Rounds per hour a worker makes at least on a wall clock (its wait is capped at 60 s).
REAL_TIME_ROUNDS_PER_H = 60.0


@dataclass(frozen=True)
class ScaleConfig:
    """One configuration of the bench.

    Attributes:
        instruments: instruments in the lab (shared out by :func:`~flows.bench.scale_lab.lab_shape`).
        campaigns: campaigns queued.
        hours: the simulated window after the first proposal (hours).
        speed: simulated seconds per real second.
        seed: seeds the campaigns and the simulated lab.
        policy: every campaign's policy.
        experiments: each campaign's budget (``None``: :func:`~flows.bench.scale_lab.auto_budget`).
        quick: short furnace programs and scans (tests).
        lease_s: the workers' lease (wall-clock seconds).
        model: ``"shared"`` or ``"split"`` (:data:`MODELS`).
    """

    instruments: int = 50
    campaigns: int = 20
    hours: float = 12.0
    speed: float = 720.0
    seed: int = 0
    policy: str = "sobol"
    experiments: int | None = None
    quick: bool = False
    lease_s: float = LEASE_S
    model: str = "split"


def row(cfg: ScaleConfig, workers: int, shape: dict[str, int], budget: int, limit: dict[str, Any],
         ledger: dict[str, Any], claims: dict[str, Any], probes: list[dict[str, Any]], cpu: list[float],
         window_h: float, timing: dict[str, Any], database_cpu: float | None, wall_s: float) -> dict[str, Any]:
    """One run's JSON entry (see :mod:`flows.bench.scale`).

    ``cpu`` is each worker's CPU seconds over the window; ``timing`` the real seconds of the run's
    phases (``startup_s``: spawn to every name taken, ``first_proposal_s``, ``stop_s``) and the CPU
    seconds of the other processes over the window (``other_cpu_s``).
    """
    controller = sum(cpu)
    busy_s = ledger["busy_h"] * 3600.0
    fraction = controller / busy_s if busy_s else 0.0
    rounds = [p.get("rounds", 0) for p in probes]
    # a worker saturated by the accelerated clock made fewer rounds than a wall-clock one: scale its CPU up
    projected_cpu = sum(c * max(1.0, REAL_TIME_ROUNDS_PER_H * window_h / max(r, 1)) for c, r in zip(cpu, rounds))
    projected = projected_cpu / busy_s if busy_s else 0.0
    rounds_h = min(rounds) / window_h if window_h and rounds else 0.0
    commits = [v for p in probes for v in p.get("commit_ms", [])]
    ticks = sum(rounds) * cfg.campaigns / workers  # campaign ticks: each round ticks the campaigns the worker holds
    value = limit["value"]
    return {
        "instruments": cfg.instruments, "campaigns": cfg.campaigns, "workers": workers, "policy": cfg.policy,
        "experiments_per_campaign": budget, "hours": cfg.hours, "speed": cfg.speed, "seed": cfg.seed,
        "quick": cfg.quick, "lab": shape, "model": cfg.model, "model_text": MODELS[cfg.model],
        "controller_fraction": round(fraction, 7), "controller_fraction_real_time": round(projected, 7),
        "controller_cpu_s": round(controller, 3),
        "worker_cores": round(controller / (window_h * 3600.0 / cfg.speed), 3) if window_h else None, "controller_cpu_s_by_worker": [round(c, 3) for c in cpu],
        "cpu_s_outside_window": [round(p["cpu_s"] - c, 3) if p.get("cpu_s") is not None else None
                                 for p, c in zip(probes, cpu)],
        "clean_exits": sum(1 for p in probes if p.get("clean_exit")),
        "cpu_ms_per_decision": round(1000.0 * controller / ledger["decisions"], 2) if ledger["decisions"] else None,
        "cpu_ms_per_experiment": round(1000.0 * controller / ledger["completed"], 2) if ledger["completed"] else None,
        "cpu_ms_per_instrument_hour": round(1000.0 * controller / ledger["busy_h"], 3) if ledger["busy_h"] else None,
        "cpu_ms_per_tick": round(1000.0 * controller / ticks, 2) if ticks else None,
        "write_latency_ms": quantiles(commits),
        "rounds": rounds, "rounds_per_sim_hour": round(rounds_h, 2),
        "round_ms": [round(1000.0 * p.get("round_s", 0.0) / r, 2) if r else None for p, r in zip(probes, rounds)],
        "completed": ledger["completed"], "physical_limit": value,
        "throughput_ratio": round(ledger["completed"] / value, 4) if value else 0.0,
        "ideal_ratio": limit["ideal_ratio"], "completed_per_hour": round(ledger["completed"] / cfg.hours, 3),
        "limit_per_hour": limit["per_hour"], "double_claims": claims["double_claims"], "claims": claims,
        "ledger": ledger, "limit": limit, "window_h": round(window_h, 3), **timing,
        "database_cpu_s": database_cpu, "wall_s": round(wall_s, 2), "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def targets(runs: list[dict[str, Any]], main: ScaleConfig) -> dict[str, dict[str, Any]]:
    """The three targets (:mod:`flows.bench.scale`), each with ``ok`` and the figures it was judged on.

    The throughput target compares the runs of ``main``'s lab, campaigns and policy, by worker count.
    """
    worst = max((max(r["controller_fraction"], r["controller_fraction_real_time"]) for r in runs), default=0.0)
    mains = sorted((r for r in runs if (r["instruments"], r["campaigns"], r["policy"]) ==
                    (main.instruments, main.campaigns, main.policy)), key=lambda r: r["workers"])
    ratios = [r["throughput_ratio"] for r in mains]
    workers = [r["workers"] for r in mains]
    steps = list(zip(workers, ratios, workers[1:], ratios[1:]))
    cores = os.cpu_count() or 1
    doubles = sum(r["double_claims"] for r in runs)
    return {"controller_fraction": {"target": "<= 0.01", "worst": worst, "ok": worst <= 0.01},
            "throughput_with_workers": {"target": "grows with every worker count added", "workers": workers,
                                        "ratios": ratios, "ok": all(b > a for _, a, _, b in steps),
                                        "cores": cores,  # what more workers can use on this machine
                                        "grows_up_to_cores": all(b > a for _, a, w, b in steps if w <= cores)},
            "double_claims": {"target": "0", "total": doubles, "ok": doubles == 0}}
