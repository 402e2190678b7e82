"""The furnace simulator on its own: timing, tray records, device-side limits and idempotency."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.furnace import anneal_duration_s
from lab.clock import SimulatedClock
from simulators.furnace import FurnaceSimulator, program_temperature
from simulators.samples import SampleTray


def reply(sim: FurnaceSimulator, line: str) -> str:
    return sim.process(line.encode()).payload.decode().rstrip("\n")


def start(sim: FurnaceSimulator, key: str = "k1", sample: str = "S-1", temp: float = 1100.0) -> str:
    for line in (f"SOUR:TEMP {temp}", "SOUR:RAMP 5", "PROG:DWEL 6", "SOUR:ATM N2"):
        assert reply(sim, line) == "OK"
    return reply(sim, f'PROG:RUN "{key}","{sample}"')


@pytest.fixture
def sim() -> FurnaceSimulator:
    return FurnaceSimulator("furnace-2", SimulatedClock(), SampleTray(), seed=4)


def test_anneals_last_hours(sim):
    assert start(sim) == "OK"
    total = anneal_duration_s(1100.0, 6.0, 5.0)
    assert 2 * 3600 <= total <= 14 * 3600
    assert reply(sim, "PROG:STAT?") == f'ramping,"k1","S-1",{total:.1f},25.0,1100.0,6.0,5.0,"N2"'


def test_anneal_is_recorded_once_on_the_first_command_after_the_end(sim):
    start(sim)
    sim.clock.advance(anneal_duration_s(1100.0, 6.0, 5.0) + 10)
    assert "S-1" not in sim.tray
    reply(sim, "*IDN?")
    reply(sim, "PROG:STAT?")
    anneals = sim.tray.get("S-1").anneals
    assert len(anneals) == 1
    assert (anneals[0].temperature_c, anneals[0].dwell_h, anneals[0].ramp_c_per_min, anneals[0].atmosphere) == (
        1100.0, 6.0, 5.0, "N2")


def test_temperature_profile():
    params = {"temperature_c": 1000.0, "ramp_c_per_min": 10.0, "dwell_h": 1.0}
    assert program_temperature(params, 0) == 25.0
    assert program_temperature(params, 60 * 50) == 525.0
    assert program_temperature(params, 97.5 * 60 + 1800) == 1000.0
    end = anneal_duration_s(1000.0, 1.0, 10.0)
    assert program_temperature(params, end) == pytest.approx(100.0)
    assert program_temperature(params, end + 10 * 3600) == 25.0


def test_log_is_deterministic_for_a_seed(sim):
    start(sim)
    sim.clock.advance(3600)
    a = sim.process(b"PROG:LOG?").payload
    b = sim.process(b'PROG:LOG? "k1"').payload
    assert a == b and a.startswith(b"#3976")  # 61 rows x 2 x 8 bytes
    other = FurnaceSimulator("furnace-3", SimulatedClock(), SampleTray(), seed=5)
    start(other)
    other.clock.advance(3600)
    assert other.process(b"PROG:LOG?").payload != a
    rows = np.frombuffer(a[5:-1], "<f8").reshape(-1, 2)
    assert np.abs(rows[:, 1] - (25 + 5 * rows[:, 0] * 60)).max() < 2.0


def test_device_limits_and_missing_setpoints(sim):
    assert reply(sim, "SOUR:TEMP 1500").startswith('ERR -222,"Data out of range: SOUR:TEMP 1500.0 degC')
    assert reply(sim, "SOUR:TEMP hot").startswith("ERR -104")
    assert reply(sim, "SOUR:ATM H2").startswith("ERR -224")
    assert reply(sim, "SOUR:TEMP").startswith("ERR -109")
    assert reply(sim, 'PROG:RUN "k","S"') == ('ERR -109,"Missing setpoint(s) before PROG:RUN: '
                                             'SOUR:TEMP SOUR:RAMP PROG:DWEL SOUR:ATM"')
    assert reply(sim, 'PROG:RUN "","S"').startswith("ERR -224")


def test_run_rules(sim):
    assert start(sim, "k1") == "OK"
    assert reply(sim, 'PROG:RUN "k1","S-1"') == "OK"
    assert start(sim, "k2").startswith('ERR 201,"Busy: holds job k1 (ramping)')
    sim.clock.advance(24 * 3600)
    assert start(sim, "k2").startswith('ERR 201,"Busy: holds job k1 (done)')
    assert reply(sim, 'PROG:UNL "k1"') == '"S-1"'
    assert start(sim, "k1").startswith("ERR 204")
    assert start(sim, "k2") == "OK"
    assert sim.starts == 2
    assert reply(sim, 'PROG:JOB? "k1"').startswith('unloaded,"k1","S-1",0.0')
    assert reply(sim, 'PROG:JOB? "zz"') == 'unknown,"zz","",0,25.0,0.0,0.0,0.0,""'
