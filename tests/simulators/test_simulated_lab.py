"""The simulated lab: one experiment through dose, anneal and XRD with the real drivers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from instruments.errors import InstrumentTimeout
from instruments.registry import open_instrument
from lab.clock import SimulatedClock
from simulators.faults import FaultPlan
from simulators.lab import SimulatedLab
from simulators.samples import SampleTray

GRID = 10.0 + 0.02 * np.arange(3501)


def source_from(tray_holder: list[SampleTray]) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """A stand-in for the materials world: peak height from the tray's anneal temperature."""
    def source(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        record = tray_holder[0].get(sample_id)
        height = record.anneals[-1].temperature_c if record.anneals else 0.0
        return GRID, 50.0 + height * np.exp(-((GRID - 31.5) / 0.1) ** 2)
    return source


@pytest.mark.parametrize("transport", ["pty", "socket"])
def test_one_experiment_through_the_whole_lab(transport):
    clock = SimulatedClock()
    holder: list[SampleTray] = []
    with SimulatedLab(clock, source_from(holder), furnaces=2, transport=transport, seed=1) as sim:
        holder.append(sim.tray)
        assert list(sim.urls) == ["doser", "furnace-1", "furnace-2", "xrd"]
        drivers = {n: open_instrument(sim.kinds[n], url, n, timeout=0.5) for n, url in sim.urls.items()}
        doser, furnace, xrd = drivers["doser"], drivers["furnace-2"], drivers["xrd"]
        doser.start_dose("e1-dose", "S-1", {"BaCO3": 591.2, "TiO2": 408.8})
        clock.advance(doser.expected_duration_s({"BaCO3": 591.2, "TiO2": 408.8}))
        assert set(doser.result("e1-dose")) == {"BaCO3", "TiO2"}
        furnace.start_program("e1-anneal", "S-1", 1050.0, 4.0, 5.0, "air")
        clock.advance(furnace.expected_duration_s(1050.0, 4.0, 5.0))
        assert furnace.status().state == "done"
        assert furnace.unload("e1-anneal") == "S-1"
        xrd.start_scan("e1-xrd", "S-1")
        clock.advance(xrd.expected_duration_s())
        two_theta, counts = xrd.fetch_pattern("e1-xrd")
        assert counts.max() == pytest.approx(1100.0, rel=0.01)
        record = sim.tray.get("S-1")
        assert record.dosed_mg and record.anneals[0].temperature_c == 1050.0
        for driver in drivers.values():
            driver.close()


def test_faults_are_given_per_instrument():
    plan = FaultPlan(late_s=0.3)
    with SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), furnaces=1, faults={"furnace-1": plan}) as sim:
        sim.devices["furnace-1"].faults.force("no_reply")
        furnace = open_instrument("furnace", sim.urls["furnace-1"], "furnace-1", timeout=0.2)
        with pytest.raises(InstrumentTimeout):
            furnace.identify()
        assert furnace.identify().startswith("LabSim")
        furnace.close()


def test_lab_arguments_are_checked():
    with pytest.raises(ValueError, match="needs pattern_source"):
        SimulatedLab(SimulatedClock(), None)
    with pytest.raises(ValueError, match="unknown instrument.*furnace-9"):
        SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), furnaces=2, faults={"furnace-9": FaultPlan()})
    with pytest.raises(ValueError, match="at least one furnace"):
        SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), furnaces=0)
    with pytest.raises(ValueError, match="at least one xrd"):
        SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), diffractometers=[])
    with pytest.raises(ValueError, match="oven used more than once"):
        SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), furnaces=["oven", "oven"])
    with pytest.raises(ValueError, match="transport='usb'"):
        SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), transport="usb")


def test_instrument_names_by_role():
    with SimulatedLab(SimulatedClock(), lambda s: (GRID, GRID), furnaces=["tube-a", "box-b"],
                      dosing=["quantos"], diffractometers="xrd-2", transport="socket") as sim:
        assert sim.kinds == {"quantos": "dosing", "tube-a": "furnace", "box-b": "furnace", "xrd-2": "xrd"}
        kind, url = sim.endpoints["box-b"]
        assert kind == "furnace" and url.startswith("socket://127.0.0.1:")
        furnace = open_instrument(kind, url, "box-b", timeout=1.0)
        assert furnace.identify() == "LabSim,BoxFurnace-1400,box-b,1.0"
        furnace.close()
