"""The dosing simulator on its own: duration, balance error, tray records."""

from __future__ import annotations

import random
import statistics

import pytest

from instruments.dosing import DosingLimits, dosing_duration_s
from lab.clock import SimulatedClock
from simulators.dosing import DosingSimulator, balance_reading
from simulators.samples import SampleTray


def reply(sim: DosingSimulator, line: str) -> str:
    return sim.process(line.encode()).payload.decode().rstrip("\n")


def dose(sim: DosingSimulator, key: str, sample: str, masses: dict[str, float]) -> str:
    reply(sim, "DOSE:CLR")
    for precursor, mg in masses.items():
        assert reply(sim, f"DOSE:MASS {precursor},{mg}") == "OK"
    return reply(sim, f'DOSE:RUN "{key}","{sample}"')


def test_balance_error_is_realistic():
    rng = random.Random(1)
    readings = [balance_reading(1000.0, rng) for _ in range(4000)]
    assert statistics.fmean(readings) == pytest.approx(1000.0, abs=0.1)
    assert statistics.stdev(readings) == pytest.approx(2.3, rel=0.1)
    assert all(r == round(r, 2) for r in readings)


def test_readings_depend_on_seed_and_key_not_on_order():
    def results(order: list[str], seed: int) -> dict[str, str]:
        sim = DosingSimulator("doser", SimulatedClock(), SampleTray(), seed=seed)
        out = {}
        for key in order:
            dose(sim, key, f"S-{key}", {"BaCO3": 591.2, "TiO2": 408.8})
            sim.clock.advance(3600)
            out[key] = reply(sim, f'DOSE:RES? "{key}"')
        return out

    assert results(["a", "b"], 1) == results(["b", "a"], 1)
    assert results(["a"], 1) != results(["a"], 2)


def test_job_takes_minutes_and_fills_the_tray():
    tray = SampleTray()
    sim = DosingSimulator("doser", SimulatedClock(), tray)
    masses = {"BaCO3": 591.2, "TiO2": 408.8}
    assert dose(sim, "k", "S-1", masses) == "OK"
    total = dosing_duration_s(masses)
    assert 5 * 60 <= total <= 10 * 60
    assert reply(sim, 'DOSE:RES? "k"').startswith('ERR 203,"Job k not finished (taring')
    sim.clock.advance(total - 100)
    assert reply(sim, "DOSE:STAT?").startswith('settling,"k","S-1",100.0')
    sim.clock.advance(100)
    res = reply(sim, 'DOSE:RES? "k"').split(",")
    assert res[0] == "BaCO3" and res[2] == "TiO2"
    assert tray.get("S-1").dosed_mg == {"BaCO3": float(res[1]), "TiO2": float(res[3])}


def test_device_side_limits():
    sim = DosingSimulator("doser", SimulatedClock(), SampleTray(), limits=DosingLimits(max_total_mg=8000.0))
    assert reply(sim, "DOSE:MASS SrCO3,10").startswith('ERR -224,"Illegal parameter value: no feeder holds SrCO3')
    assert reply(sim, "DOSE:MASS BaCO3,0.1").startswith("ERR -222")
    assert reply(sim, 'DOSE:RUN "k","S"').startswith("ERR -109")
    assert dose(sim, "k", "S", {"BaCO3": 5000, "TiO2": 3000}) == "OK"
    sim.clock.advance(3600)
    assert dose(sim, "k2", "S2", {"BaCO3": 5000, "TiO2": 3000.5}).startswith("ERR -222,\"Data out of range: total")
