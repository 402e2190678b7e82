"""Audit a campaign's ledger against what the instruments actually did (for ``lab bench crash``).

:func:`read_ledger` and :func:`read_devices` take plain snapshots (the ledger through :mod:`db`,
the devices duck-typed: anything with ``jobs`` {key: job}, ``starts``, ``phase(job)``, ``received``
lines and, optionally, ``cut`` (jobs a restart cut, no longer held), as the simulators that :func:`flows.campaign.runtime.served_simulated_lab` yields);
:func:`check` compares them and returns every problem as an :class:`Issue` in one of three
categories:

* ``lost``: an experiment not in a terminal state at the end (``unfinished``), or in state ``lost``;
* ``duplicated``: a device started more jobs than it holds keys, a key ran on two instruments, or a
  device ran a job whose key is no step of the ledger (a physical experiment nobody accounts for);
* ``inconsistent``: an experiment's state disagrees with its steps, measurements, analysis or
  reward; its state timestamps are out of order; a terminal experiment keeps a step in flight; a
  step is done without its measurement, or the device has no such job; two steps held one
  instrument at overlapping times; a measurement was stored twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import db
from lab.experiment import ExperimentState

__all__ = ["MEASUREMENT_OF", "CheckResult", "DeviceRecord", "Issue", "LedgerSnapshot", "check", "read_devices",
           "read_ledger"]

S = ExperimentState
#: The raw measurement a finished step of each instrument kind must have stored.
MEASUREMENT_OF = {"dosing": "dosed_mg", "furnace": "temperature_log", "xrd": "xrd_pattern"}
#: Valid histories: the states an experiment in a given state has passed through, in order.
_PATHS: dict[S, tuple[tuple[str, ...], ...]] = {
    S.PROPOSED: (("proposed",),),
    S.DISPATCHED: (("proposed", "dispatched"),),
    S.RUNNING: (("proposed", "dispatched", "running"),),
    S.MEASURED: (("proposed", "dispatched", "running", "measured"),),
    S.REWARDED: (("proposed", "dispatched", "running", "measured", "rewarded"),),
    S.CANCELLED: (("proposed", "cancelled"),),
    S.FAILED: (("proposed", "dispatched", "failed"), ("proposed", "dispatched", "running", "failed")),
    S.LOST: (("proposed", "dispatched", "lost"), ("proposed", "dispatched", "running", "lost")),
}
_IN_FLIGHT = ("intent", "acked")


@dataclass(frozen=True)
class Issue:
    """One problem found: ``category`` (lost, duplicated, inconsistent), a short ``kind`` and the detail."""

    category: str
    kind: str
    detail: str


@dataclass(frozen=True)
class DeviceRecord:
    """What one instrument did: real job starts, the phase of every job by key, RUN lines received per key."""

    name: str
    starts: int
    jobs: dict[str, str]
    runs: dict[str, int] = field(default_factory=dict)


@dataclass
class LedgerSnapshot:
    """The campaigns' experiments with their steps, measurement names, analyses and active-version rewards."""

    experiments: list[db.ExperimentInfo] = field(default_factory=list)
    steps: dict[int, list[db.StepInfo]] = field(default_factory=dict)
    measurements: dict[int, list[str]] = field(default_factory=dict)
    analysed: set[int] = field(default_factory=set)
    rewarded: set[int] = field(default_factory=set)


@dataclass
class CheckResult:
    """Every issue found, with the counts the benchmark reports."""

    issues: list[Issue]

    def count(self, category: str, kind: str | None = None) -> int:
        """Issues of ``category`` (and ``kind``, if given)."""
        return sum(1 for i in self.issues if i.category == category and kind in (None, i.kind))

    @property
    def lost(self) -> int:
        return self.count("lost")

    @property
    def duplicated(self) -> int:
        return self.count("duplicated")

    @property
    def inconsistent(self) -> int:
        return self.count("inconsistent")


def read_ledger(store: db.Store, campaign_ids: Iterable[int]) -> LedgerSnapshot:
    """Snapshot the ledger of ``campaign_ids`` (one short session)."""
    snap = LedgerSnapshot()
    with store.session() as s:
        for cid in campaign_ids:
            version = db.get_reward_definition(s, cid).version
            snap.rewarded |= set(db.rewards_for(s, cid, version))
            for exp in db.list_experiments(s, cid):
                snap.experiments.append(exp)
                snap.steps[exp.id] = db.list_steps(s, exp.id)
                snap.measurements[exp.id] = [m.name for m in db.load_measurements(s, exp.id)]
                if db.latest_analysis(s, exp.id) is not None:
                    snap.analysed.add(exp.id)
    return snap


def read_devices(devices: Mapping[str, Any]) -> dict[str, DeviceRecord]:
    """Snapshot simulated instruments (``SimulatedLab.devices``): starts, job phases, RUN lines per key."""
    out: dict[str, DeviceRecord] = {}
    for name, dev in devices.items():
        jobs = dict(getattr(dev, "jobs", {}))
        runs: Counter[str] = Counter()
        for line in list(getattr(dev, "received", [])):
            header, _, rest = line.partition(" ")
            if header.upper().endswith(":RUN") and rest:
                runs[rest.split(",")[0].strip().strip('"')] += 1
        starts = int(getattr(dev, "starts", 0)) - len(getattr(dev, "cut", ()))  # a job a restart cut is not held
        out[name] = DeviceRecord(name, starts, {k: str(dev.phase(j)) for k, j in jobs.items()}, dict(runs))
    return out


def check(ledger: LedgerSnapshot, devices: Mapping[str, DeviceRecord]) -> CheckResult:
    """Every lost, duplicated and inconsistent experiment in ``ledger`` given what ``devices`` did."""
    issues: list[Issue] = []
    for exp in ledger.experiments:
        issues += _experiment_issues(exp, ledger)
    issues += _device_issues(ledger, devices)
    issues += _overlaps(ledger)
    return CheckResult(issues)


def _experiment_issues(exp: db.ExperimentInfo, ledger: LedgerSnapshot) -> list[Issue]:
    who = f"{exp.sample_id} ({exp.state.value})"
    steps = ledger.steps.get(exp.id, [])
    names = Counter(ledger.measurements.get(exp.id, []))
    out: list[Issue] = []

    def bad(kind: str, detail: str) -> None:
        out.append(Issue("inconsistent", kind, f"{who}: {detail}"))

    if not exp.state.terminal:
        out.append(Issue("lost", "unfinished", f"{who}: not in a terminal state at the end"))
    if exp.state is S.LOST:
        out.append(Issue("lost", "lost_state", f"{who}: {exp.reason}"))
        if not any(st.state == "lost" for st in steps):
            bad("lost_without_step", "lost, but none of its steps is")
    _check_timestamps(exp, bad)
    states = [st.state for st in steps]
    all_done = bool(steps) and all(x == "done" for x in states)
    if exp.state.terminal and any(x in _IN_FLIGHT for x in states):
        bad("terminal_in_flight", f"terminal with steps still in flight: {_steps_text(steps)}")
    if exp.state is S.PROPOSED and any(x != "planned" for x in states):
        bad("proposed_but_sent", f"proposed, yet steps went past planned: {_steps_text(steps)}")
    if exp.state is S.RUNNING and not any(x in ("acked", "done") for x in states):
        bad("running_without_ack", f"running, yet no step acknowledged: {_steps_text(steps)}")
    if exp.state in (S.MEASURED, S.REWARDED) and not all_done:
        bad("measured_steps_not_done", f"{exp.state.value} without every step done: {_steps_text(steps)}")
    if exp.state in (S.MEASURED, S.REWARDED, S.FAILED) and all_done and exp.id not in ledger.analysed:
        bad("no_analysis", "no analysis row")
    if exp.state in (S.REWARDED, S.FAILED) and all_done and exp.id not in ledger.rewarded:
        bad("no_reward", "no reward row under the active version")
    for st in steps:
        wanted = MEASUREMENT_OF.get(st.instrument_kind)
        if st.state == "done" and wanted is not None and names[wanted] == 0:
            bad("done_without_measurement", f"step {st.idempotency_key} done, but no {wanted} stored")
        _check_step_times(st, bad)
    for name, n in names.items():
        if n > 1:
            bad("measurement_twice", f"measurement {name} stored {n} times")
    return out


def _check_timestamps(exp: db.ExperimentInfo, bad: Any) -> None:
    have = tuple(k for k in ("proposed", "dispatched", "running", "measured", "rewarded", "cancelled", "failed", "lost")
                 if k in exp.timestamps)
    paths = _PATHS[exp.state]
    path = next((p for p in paths if set(p) == set(have)), None)
    if path is None:
        bad("timestamps_path", f"state timestamps {list(have)} fit no history of a {exp.state.value} experiment")
        return
    times = [exp.timestamps[k] for k in path]
    if any(b < a for a, b in zip(times, times[1:])):
        bad("timestamps_order", "state timestamps out of order: "
            + ", ".join(f"{k} {exp.timestamps[k]:%m-%d %H:%M:%S}" for k in path))


def _check_step_times(st: db.StepInfo, bad: Any) -> None:
    chain = [t for t in (st.planned_at, st.intent_at, st.acked_at, st.done_at or st.failed_at) if t is not None]
    if any(b < a for a, b in zip(chain, chain[1:])):
        bad("step_times_order", f"step {st.idempotency_key} timestamps out of order")
    if st.state == "done" and (st.intent_at is None or st.acked_at is None or st.done_at is None):
        bad("step_times_missing", f"step {st.idempotency_key} done without intent/ack/done times")


def _device_issues(ledger: LedgerSnapshot, devices: Mapping[str, DeviceRecord]) -> list[Issue]:
    out: list[Issue] = []
    where: dict[str, list[str]] = {}
    for dev in devices.values():
        if dev.starts != len(dev.jobs):
            extra = dev.starts - len(dev.jobs)
            out += [Issue("duplicated", "device_started_twice",
                          f"{dev.name}: {dev.starts} job starts for {len(dev.jobs)} keys")] * max(extra, 1)
        for key in dev.jobs:
            where.setdefault(key, []).append(dev.name)
    steps = {st.idempotency_key: st for group in ledger.steps.values() for st in group}
    for key, names in where.items():
        if len(names) > 1:
            out += [Issue("duplicated", "key_on_two_instruments", f"{key} ran on {', '.join(names)}")] * (len(names) - 1)
        st = steps.get(key)
        if st is None:
            out.append(Issue("duplicated", "unrecorded_job", f"{names[0]} ran {key}, which is no step of the ledger"))
        elif st.state == "planned":
            out.append(Issue("inconsistent", "ran_but_planned", f"{names[0]} ran {key}, but the ledger says planned"))
    for key, st in steps.items():
        if st.state not in ("acked", "done") or st.instrument is None:
            continue
        owner = devices.get(st.instrument)
        phase = None if owner is None else owner.jobs.get(key)
        if phase is None:
            out.append(Issue("inconsistent", "phantom_step", f"step {key} is {st.state} on {st.instrument}, "
                                                            "which has no record of it"))
        elif st.state == "done" and phase not in (("unloaded",) if st.instrument_kind == "furnace" else ("done", "unloaded")):
            out.append(Issue("inconsistent", "done_but_device_not", f"step {key} done; {st.instrument} says {phase}"))
    return out


def _overlaps(ledger: LedgerSnapshot) -> list[Issue]:
    spans: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
    for group in ledger.steps.values():
        for st in group:
            if st.instrument is not None and st.intent_at is not None:
                spans.setdefault(st.instrument, []).append((st.intent_at, st.done_at or st.failed_at, st.idempotency_key))
    out: list[Issue] = []
    for name, items in spans.items():
        items.sort(key=lambda x: x[0])
        end, holder = items[0][1], items[0][2]
        for start, stop, key in items[1:]:
            if end is None or start < end:
                out.append(Issue("inconsistent", "instrument_overlap", f"{name} held {holder} and {key} at once "
                                                                       f"({key} from {start:%m-%d %H:%M:%S})"))
            if end is not None and (stop is None or stop > end):
                end, holder = stop, key
    return out


def _steps_text(steps: list[db.StepInfo]) -> str:
    return ", ".join(f"{st.name}={st.state}" for st in steps) or "no steps"
