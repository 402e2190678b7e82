"""Throughput benchmark: the asynchronous engine against a synchronous loop, on the same simulated lab.

The lab: one dosing station (10 min per sample), four furnaces (programs of 2-8 h), one
diffractometer (about 30 min per scan). Both controllers run the same campaign spec, with the same
seed, on a fresh simulated rig and a fresh store each, for the same simulated window:

* **engine**: :class:`~flows.campaign.engine.CampaignEngine` as :func:`flows.campaign.flow.run_campaign`
  configures it (poll interval 1 h on a simulated clock, retries without delay);
* **sync**: :class:`~flows.bench.sync_loop.SyncLoopEngine`: propose 4, wait for all 4 results, repeat.

**Benchmark spec** (:func:`bench_spec`). Furnace occupancy is ramp from 25 °C at 10 °C/min, dwell,
cooling at 5 °C/min to 100 °C (:func:`instruments.furnace.anneal_duration_s`), i.e.
``(0.3 T - 22.5) min + dwell`` for T in °C. With T uniform on [350, 450] °C (ramp + cool 1.375 to
1.875 h) and the dwell uniform on [0.625, 6.125] h, every program takes 2.0 to 8.0 h, 5.0 h on
average (a trapezoidal distribution; the duration is linear in T and dwell, so its mean is the
duration at the mid-point). Temperatures this low make no BaTiO3: the chemistry is beside the point
here, and a failed experiment counts as completed. Dosing 6000 mg of two precursors takes
30 + 2 x 45 + 6000 / 20 + 180 = 600 s; a 10-80° scan by 0.02° at 0.5 s per step takes
90 + 3501 x 0.5 = 1840.5 s (30.7 min). The policy is ``sobol``: proposals cost milliseconds, so the
benchmark measures the controller and not the policy, and its sequence position depends only on
how many experiments are on record, so both controllers get the same sequence of experiments.

**Completed**: experiments whose rewarded (or failed) timestamp lies inside the window.

**Physical limit** (:func:`physical_limit`): the furnaces are the bottleneck (each stage's raw
capacity, instruments x window / mean duration, is reported). Furnace ``i`` (1-based) cannot start
before ``ceil(i / n_dosers)`` doses are done, and an anneal only counts if its scan can still finish
inside the window, so furnace ``i`` has ``D - ceil(i / n_dosers) t_dose - t_xrd`` usable hours of
the window ``D``. The limit is the sum of those hours over the furnaces divided by the expected
furnace occupancy (5.0 h, from the spec; the means measured in the ledger are reported beside it).
It is a capacity bound, not an integer schedule: an anneal still running when the window closes
does not count, which costs even a perfect scheduler about ``(sigma^2 - mu^2) / (2 mu^2)`` ~ 0.45
experiments per furnace (renewal theory), about 1.3 % of the limit for a week.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow

import db
from flows.bench.machine import machine_info
from flows.bench.sync_loop import SyncLoopEngine
from flows.campaign import instrument_calls
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.runtime import simulated_rig
from instruments.diffractometer import DEFAULT_SECONDS_PER_STEP, scan_duration_s
from instruments.dosing import dosing_duration_s
from instruments.furnace import anneal_duration_s
from lab.clock import DEFAULT_SIM_START
from lab.spec import CampaignSpec, CompositionSpec, ContinuousSpec, IntegerSpec, parse_spec
from lab.workflow import precursor_masses
from policies.registry import make_policy

__all__ = ["ControllerRun", "Limit", "bench_spec", "physical_limit", "run_controller",
           "throughput", "throughput_flow"]

KINDS = ("dosing", "furnace", "xrd")
CONTROLLERS: dict[str, type[CampaignEngine]] = {"engine": CampaignEngine, "sync": SyncLoopEngine}

_SPEC = """\
name = "throughput bench"
description = "Furnace programs of 2-8 h (350-450 C at 10 C/min, 0.625-6.125 h dwell), 10 min dosing, 30 min XRD."
seed = {seed}
batch_size = 4
[budget]
experiments = 100000
hours = {hours!r}
[[parameters]]
name = "cations"
type = "composition"
elements = {{ Ba = [0.35, 0.65], Ti = [0.35, 0.65] }}
[[parameters]]
name = "temperature_c"
type = "continuous"
low = 350.0
high = 450.0
[[parameters]]
name = "dwell_h"
type = "continuous"
low = 0.625
high = 6.125
[[parameters]]
name = "atmosphere"
type = "categorical"
choices = ["air", "O2", "N2"]
[[objectives]]
name = "target_fraction"
[policy]
name = "{policy}"
[workflow]
batch_mg = 6000.0
ramp_c_per_min = 10.0
two_theta = [10.0, 80.0, 0.02]
"""


def bench_spec(days: float, seed: int, policy: str = "sobol") -> tuple[str, CampaignSpec]:
    """The benchmark campaign (TOML text and parsed spec): proposals stop after ``days`` (days)."""
    text = _SPEC.format(seed=seed, hours=float(days) * 24.0, policy=policy)
    return text, parse_spec(text, source="<throughput bench>")


def expected_durations_h(spec: CampaignSpec) -> dict[str, float]:
    """Expected duration of one job per instrument kind (hours), from the drivers' timing formulas.

    The furnace's is the mean over the uniform draws of temperature and dwell: the duration is
    linear in both (for temperatures above the unload temperature), so it is the mid-point's.
    """
    params = {p.name: p for p in spec.parameters}
    wf = spec.workflow
    temp, dwell, comp = params[wf.temperature], params[wf.dwell], params[wf.composition]
    if not isinstance(temp, ContinuousSpec | IntegerSpec) or not isinstance(dwell, ContinuousSpec | IntegerSpec):
        raise TypeError(f"temperature and dwell must be numeric parameters, got {type(temp).__name__} and {type(dwell).__name__}")
    if not isinstance(comp, CompositionSpec):
        raise TypeError(f"composition must be a composition parameter, got {type(comp).__name__}")
    mid_t, mid_dwell = (temp.low + temp.high) / 2.0, (dwell.low + dwell.high) / 2.0
    fractions = {e: (lo + hi) / 2.0 for e, (lo, hi) in comp.elements.items()}
    masses = precursor_masses(fractions, wf.precursors, wf.batch_mg)  # the total (and duration) is the same for any
    return {"dosing": dosing_duration_s(masses) / 3600.0,
            "furnace": anneal_duration_s(mid_t, mid_dwell, wf.ramp_c_per_min) / 3600.0,
            "xrd": scan_duration_s(*wf.two_theta, DEFAULT_SECONDS_PER_STEP) / 3600.0}


@dataclass(frozen=True)
class Limit:
    """The bottleneck's capacity over the window (experiments) and how it was computed.

    Attributes:
        value: the physical limit (experiments).
        window_h: the simulated window (hours).
        furnace_hours: usable furnace hours in the window, after the pipeline fill (hours).
        fill_h: furnace hours lost to the fill: waiting for the first doses, leaving time for the last scan (hours).
        durations_h: expected duration per instrument kind (hours).
        stage_capacity: instruments x window / mean duration per kind, without fill (experiments).
        bottleneck: the kind with the smallest stage capacity.
        instruments: number of instruments per kind.
    """

    value: float
    window_h: float
    furnace_hours: float
    fill_h: float
    durations_h: dict[str, float]
    stage_capacity: dict[str, float]
    bottleneck: str
    instruments: dict[str, int]


def physical_limit(spec: CampaignSpec, days: float) -> Limit:
    """The most experiments any controller could complete in ``days`` (days): see the module docstring."""
    window = float(days) * 24.0
    dur = expected_durations_h(spec)
    roles = spec.instruments
    counts = {"dosing": len(roles.dosing), "furnace": len(roles.furnaces), "xrd": len(roles.diffractometer)}
    capacity = {k: counts[k] * window / dur[k] for k in KINDS}
    bottleneck = min(capacity, key=capacity.__getitem__)
    fill = sum(math.ceil(i / counts["dosing"]) * dur["dosing"] + dur["xrd"] for i in range(1, counts["furnace"] + 1))
    usable = counts["furnace"] * window - fill
    return Limit(max(usable, 0.0) / dur["furnace"], window, usable, fill, dur, capacity, bottleneck, counts)


@dataclass(frozen=True)
class ControllerRun:
    """What one controller achieved in the window.

    Attributes:
        controller: ``"engine"`` or ``"sync"``.
        completed: experiments rewarded or failed inside the window.
        proposed: experiments proposed inside the window.
        utilisation: per instrument, busy time inside the window over the window (0-1).
        jobs: per instrument, jobs started inside the window.
        mean_duration_h: per kind, mean job duration (hours) measured in the ledger (acked to done).
        wall_s: wall-clock time of the run (seconds).
    """

    controller: str
    completed: int
    proposed: int
    utilisation: dict[str, float]
    jobs: dict[str, int]
    mean_duration_h: dict[str, float]
    wall_s: float


def run_controller(controller: str, text: str, spec: CampaignSpec, days: float, url: str,
                   start: datetime = DEFAULT_SIM_START) -> ControllerRun:
    """Run ``controller`` on a fresh simulated rig and the (fresh) store at ``url`` for ``days`` (days)."""
    store = db.open_store(url)
    end = start + timedelta(days=days)
    saved = list(instrument_calls.RETRY_DELAYS)
    try:
        with store.session() as s:
            cid = db.create_campaign(s, name=f"{spec.name} ({controller})", spec_toml=text, spec=spec.to_store_dict(),
                                     seed=spec.seed, reward=spec.reward_definition(), at=start)
        with simulated_rig(spec, seed=spec.seed, start=start) as rig:
            instrument_calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]  # as run_campaign does on a simulated rig
            policy = make_policy(spec.policy.name, **spec.policy.options)
            engine = CONTROLLERS[controller](store, cid, rig.instruments, rig.clock, policy,
                                             EngineSettings(poll_interval_s=3600.0))
            t0 = time.perf_counter()
            engine.run(should_stop=lambda: rig.clock.now() >= end)
            wall = time.perf_counter() - t0
        return _measure(store, cid, controller, start, end, wall)
    finally:
        instrument_calls.RETRY_DELAYS[:] = saved
        store.dispose()


def _measure(store: db.Store, cid: int, controller: str, start: datetime, end: datetime, wall: float) -> ControllerRun:
    with store.session() as s:
        experiments = db.list_experiments(s, cid)
        steps = db.step_history(s, cid)
    done = [e for e in experiments
            if any(e.timestamps.get(k) is not None and e.timestamps[k] <= end for k in ("rewarded", "failed"))]
    proposed = sum(1 for e in experiments if e.timestamps["proposed"] <= end)
    window = (end - start).total_seconds()
    busy: dict[str, float] = {}
    jobs: dict[str, int] = {}
    durations: dict[str, list[float]] = {k: [] for k in KINDS}
    for st in steps:
        if st.instrument is None or st.acked_at is None or st.acked_at > end:
            continue
        stop = min(st.done_at or end, end)
        busy[st.instrument] = busy.get(st.instrument, 0.0) + max((stop - max(st.acked_at, start)).total_seconds(), 0.0)
        jobs[st.instrument] = jobs.get(st.instrument, 0) + 1
        if st.done_at is not None:
            durations[st.instrument_kind].append((st.done_at - st.acked_at).total_seconds() / 3600.0)
    return ControllerRun(controller, len(done), proposed, {k: v / window for k, v in sorted(busy.items())},
                         dict(sorted(jobs.items())), {k: sum(v) / len(v) if v else 0.0 for k, v in durations.items()},
                         wall)


@flow(name="bench-throughput", log_prints=False, validate_parameters=False)
def throughput_flow(days: float, seed: int, workdir: str) -> dict[str, ControllerRun]:
    """Both controllers, one after the other, each with its own SQLite store in ``workdir``."""
    text, spec = bench_spec(days, seed)
    return {name: run_controller(name, text, spec, days, f"sqlite:///{Path(workdir) / f'{name}.db'}")
            for name in CONTROLLERS}



def throughput(days: float = 7.0, seed: int = 0) -> dict[str, Any]:
    """Run the benchmark; returns the report (JSON-able), keys as documented in the module.

    Args:
        days: simulated window (days).
        seed: seed of the campaign (policy) and of the simulated lab, the same for both controllers.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as workdir:
        runs = throughput_flow(days, seed, workdir)
    _, spec = bench_spec(days, seed)
    limit = physical_limit(spec, days)
    eng, syn = runs["engine"], runs["sync"]
    return {
        "days": days, "seed": seed, "policy": spec.policy.name,
        "engine_completed": eng.completed, "sync_completed": syn.completed,
        "physical_limit": round(limit.value, 3),
        "engine_ratio": round(eng.completed / limit.value, 4) if limit.value else 0.0,
        "sync_ratio": round(syn.completed / limit.value, 4) if limit.value else 0.0,
        "limit": asdict(limit),
        "runs": {name: asdict(run) for name, run in runs.items()},
        "wall_s": round(time.perf_counter() - t0, 2),
        "machine": machine_info(),
    }
