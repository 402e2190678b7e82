"""Device restarts: drawn on the device's clock, counted and logged; the device forgets RAM, keeps its job log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from instruments.furnace import anneal_duration_s
from lab.clock import DEFAULT_SIM_START, SimulatedClock
from simulators.faults import ALL_KINDS, FaultInjector, FaultPlan
from simulators.furnace import FurnaceSimulator
from simulators.samples import SampleTray

SETPOINTS = ("SOUR:TEMP 400.0", "SOUR:RAMP 10.0", "PROG:DWEL 1.0", "SOUR:ATM air")


def reply(sim: FurnaceSimulator, line: str) -> str | None:
    payload = sim.process(line.encode()).payload
    return None if payload is None else payload.decode("latin-1").rstrip("\n")


def run(sim: FurnaceSimulator, key: str) -> None:
    for line in SETPOINTS:
        assert reply(sim, line) == "OK"
    assert reply(sim, f'PROG:RUN "{key}","S-{key}"') == "OK"


@pytest.fixture
def sim() -> FurnaceSimulator:
    return FurnaceSimulator("furnace-1", SimulatedClock(), SampleTray(), FaultPlan(seed=3))


def test_restarts_come_at_the_rate_per_simulated_hour_and_are_seeded() -> None:
    def moments(seed: int) -> list[float]:
        injector, now, out = FaultInjector(FaultPlan(restarts_per_h=0.5, seed=seed)), DEFAULT_SIM_START, []
        for _ in range(2000):  # one command a minute for 2000 minutes
            at = injector.restart_due(now)
            if at is not None:
                out.append((at - DEFAULT_SIM_START).total_seconds())
                injector.record_restart(at)
            now += timedelta(minutes=1)
        return out

    first = moments(1)
    assert first == moments(1) and first != moments(2)
    assert 8 <= len(first) <= 28  # 2000 min at 0.5 per hour: 16.7 expected
    assert FaultInjector(FaultPlan()).restart_due(DEFAULT_SIM_START) is None


def test_a_restart_cuts_the_running_job_keeps_finished_ones_and_drops_the_line(sim: FurnaceSimulator) -> None:
    run(sim, "a")
    sim.clock.advance(anneal_duration_s(400.0, 1.0, 10.0) + 60)
    assert reply(sim, 'PROG:UNL "a"') == '"S-a"'
    run(sim, "b")
    for line in SETPOINTS[:2]:
        reply(sim, line)  # staged for a next job, then lost with the restart
    sim.faults.force("restart")
    response = sim.process(b'PROG:JOB? "b"')
    assert response.payload is None and response.drop  # the line is lost with the link
    assert reply(sim, 'PROG:JOB? "b"').startswith('unknown,"b"')  # the running program is forgotten
    assert reply(sim, 'PROG:JOB? "a"').startswith('unloaded,"a"')  # the finished one is kept
    assert sim.staged == {} and sim.restarts == 1 and [j.key for j in sim.cut] == ["b"]
    (event,) = sim.faults.events
    assert (event.kind, event.key, event.cut, event.line) == ("restart", "b", True, 'PROG:JOB? "b"')
    assert sim.faults.counts == {**dict.fromkeys(ALL_KINDS, 0), "restart": 1}
    run(sim, "b")  # the controller may start it again: the device holds no record of it
    assert sim.starts == 3 and len(sim.jobs) == 2


def test_a_job_that_ended_before_the_restart_moment_is_finished_not_cut(sim: FurnaceSimulator) -> None:
    run(sim, "a")
    sim.clock.advance(anneal_duration_s(400.0, 1.0, 10.0) + 60)
    sim.faults.force("restart")
    sim.process(b"PROG:STAT?")
    assert reply(sim, 'PROG:JOB? "a"').startswith('done,"a"') and not sim.cut
    assert sim.tray.get("S-a").anneals  # the anneal it completed is on the sample
    assert not sim.faults.events[0].cut


def test_faults_are_logged_with_their_line_time_and_key(sim: FurnaceSimulator) -> None:
    sim.faults.force("garbled", on="SOUR:RAMP")
    sim.faults.force("stuck")
    reply(sim, 'PROG:JOB? "k"')
    run_lines = [reply(sim, line) for line in SETPOINTS]
    assert run_lines[1] != "OK"  # garbled (the command was carried out)
    assert reply(sim, 'PROG:RUN "k","S-k"') == "OK"
    garbled, stuck = sim.faults.events
    assert (garbled.kind, garbled.line, garbled.key, garbled.at) == ("garbled", "SOUR:RAMP 10.0", "k", DEFAULT_SIM_START)
    assert (stuck.kind, stuck.key) == ("stuck", "k")
