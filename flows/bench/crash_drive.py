"""The kill loop of ``lab bench crash``: N named workers, each killed at random moments and restarted.

Worker ``i`` always runs under the same name (:func:`worker_name`), so a restart takes its
campaigns back at once, while the other workers may take them over only once its lease lapses.
Each worker gets a kill moment ``0.5 + u (W - 0.5)`` seconds after its spawn (``u`` from the
bench's random source; ``W``: median start-up plus ``engine_window_s``, plus ``ARMED_EXTRA_S`` for
an armed kill) and, for a fraction ``armed`` of kills, an event to land on
(:mod:`flows.bench.crash_watch`). A killed (or exited) worker is restarted at once under its name.
While kills remain, the bench keeps ``campaigns`` campaigns queued or running (one more is queued
when one ends), and the :class:`~flows.bench.crash_disrupt.Disruptor` fires its disruptions.

Then the **final phase**: dead workers are restarted, nobody is killed, and once every campaign
has ended (or ``timeout_s`` passed) each worker is stopped with ``SIGTERM``; a clean stop exits 0.
Workers never run with ``--once`` here: a worker with nothing to claim waits, as in production.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from flows.bench.crash_disrupt import Disruptor
from flows.bench.crash_procs import WorkerProcess
from flows.bench.crash_run import CrashRun
from flows.bench.crash_watch import TRIGGERS, Watch, Watcher

__all__ = ["ARMED_EXTRA_S", "DrivePlan", "drive", "worker_name"]

#: Extra real seconds over which the fallback moment of an armed kill is drawn.
ARMED_EXTRA_S = 20.0
#: Real seconds a worker has to stop cleanly after SIGTERM.
STOP_TIMEOUT_S = 90.0
#: Real seconds between looks at whether a campaign ended (and another is to be queued).
QUEUE_LOOK_S = 1.0


def worker_name(i: int, workers: int) -> str:
    """The name of worker ``i`` (0-based) of ``workers``: the single worker keeps the historical name."""
    return WorkerProcess.NAME if workers == 1 else f"{WorkerProcess.NAME}-{i + 1}"


@dataclass(frozen=True)
class DrivePlan:
    """What the loop does.

    Attributes:
        kills: SIGKILLs to deliver, over all workers.
        workers: worker processes side by side.
        campaigns: campaigns kept queued or running while kills remain.
        engine_window_s: real seconds past the median start-up over which kill moments are drawn.
        armed: fraction of kills armed on an event.
        final_timeout_s: real seconds the final phase may take before its workers are stopped anyway.
    """

    kills: int
    workers: int
    campaigns: int
    engine_window_s: float
    armed: float
    final_timeout_s: float


class _Slot:
    """One worker name: its current process and watcher."""

    def __init__(self, run: CrashRun, name: str, plan: DrivePlan, rng: random.Random, final: bool = False) -> None:
        self.name = name
        self.trigger = "moment"
        self.moment_s = float("inf")
        if not final:
            self.trigger = rng.choice(TRIGGERS[1:]) if rng.random() < plan.armed else "moment"
            window = run.window_s(plan.engine_window_s) + (ARMED_EXTRA_S if self.trigger != "moment" else 0.0)
            self.moment_s = 0.5 + rng.random() * (window - 0.5)
        self.worker = run.spawn(name)
        self.watcher = Watcher(run, self.worker, self.moment_s, self.trigger, attribute=plan.workers > 1)


def drive(run: CrashRun, plan: DrivePlan, rng: random.Random, disruptor: Disruptor) -> dict[str, Any]:
    """Run the kill phase and the final phase; returns ``kills`` delivered and ``worker_failures``."""
    names = [worker_name(i, plan.workers) for i in range(plan.workers)]
    slots = [_Slot(run, name, plan, rng) for name in names]
    done = failures = 0
    next_queue_look = 0.0
    try:
        while done < plan.kills and len(run.log) < 3 * plan.kills + 10 * plan.workers:
            if time.monotonic() >= next_queue_look:  # a ledger query per campaign: once a second is enough
                next_queue_look = time.monotonic() + QUEUE_LOOK_S
                if run.active() < plan.campaigns:
                    run.queue()
            for i, slot in enumerate(slots):
                watch = slot.watcher.poll()
                if watch is None:
                    continue
                if watch.rc is None:
                    slot.worker.kill()
                done += watch.rc is None
                failures += watch.rc not in (None, 0)
                _log_end(run, slot, watch, done, plan.kills)
                if done < plan.kills:
                    slots[i] = _Slot(run, slot.name, plan, rng)
            _disrupt(run, disruptor, done, slots)
            time.sleep(0.003 if any(s.watcher.armed for s in slots) else 0.02)
        failures += _final(run, plan, rng, disruptor, slots, done)
    finally:
        for slot in slots:
            if slot.worker.poll() is None:
                slot.worker.kill()
    return {"kills": done, "worker_failures": failures}


def _disrupt(run: CrashRun, disruptor: Disruptor, done: int, slots: list[_Slot]) -> None:
    if disruptor.pending and disruptor.tick(done, any(s.watcher.held for s in slots)) is not None:
        entry = disruptor.log[-1]
        run.say(f"{entry['kind']} {entry['n']} at {entry['at_s']:.1f} s (after {done} kills): {entry['detail']}")


def _log_end(run: CrashRun, slot: _Slot, watch: Watch, done: int, kills: int) -> None:
    event = "kill" if watch.rc is None else "exit"
    entry = run.record(event, slot.worker, watch.at_s, watch.startup_s, rc=watch.rc, trigger=slot.trigger,
                       fired=watch.fired, moment_s=round(slot.moment_s, 2))
    run.say(f"{slot.name}: {event} {done}/{kills} at {entry['at_s']:.2f} s, {slot.trigger}"
            f"{' fired' if watch.fired else ''} ({'; '.join(entry['phase'])}); experiments {entry['experiments']}")


def _final(run: CrashRun, plan: DrivePlan, rng: random.Random, disruptor: Disruptor, slots: list[_Slot],
           done: int) -> int:
    """Restart dead workers, let every campaign end, stop the workers cleanly; returns the failures."""
    for i, slot in enumerate(slots):
        if slot.worker.poll() is None:  # alive: it goes on, never to be killed
            slot.moment_s = slot.watcher.moment_s = float("inf")
            slot.trigger = slot.watcher.trigger = "moment"
        else:
            slots[i] = _Slot(run, slot.name, plan, rng, final=True)
    deadline = time.monotonic() + plan.final_timeout_s
    failures = 0
    while time.monotonic() < deadline and (run.active() > 0 or disruptor.pending):
        for i, slot in enumerate(slots):
            watch = slot.watcher.poll()
            if watch is not None and watch.rc is not None:  # ended by itself: an error, or a lost name
                failures += watch.rc != 0
                run.record("exit", slot.worker, watch.at_s, watch.startup_s, rc=watch.rc, during="final phase")
                run.say(f"{slot.name}: exited {watch.rc} in the final phase; restarting it")
                slots[i] = _Slot(run, slot.name, plan, rng, final=True)
        _disrupt(run, disruptor, done, slots)
        time.sleep(0.25)
    timed_out = run.active() > 0
    for slot in slots:
        startup = slot.watcher.startup_s
        rc = slot.worker.stop(STOP_TIMEOUT_S)
        failures += rc != 0
        run.record("final", slot.worker, slot.worker.elapsed_s, startup, rc=rc, timed_out=timed_out)
        run.say(f"{slot.name}: final worker {'did not stop' if rc is None else f'stopped, exit {rc}'} after "
                f"{slot.worker.elapsed_s:.1f} s{' (campaigns still running: timed out)' if timed_out else ''}")
    return failures
