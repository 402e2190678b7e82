"""Each driver serves its workflow step through the StepDriver methods, over a real pseudo-terminal."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.diffractometer import Diffractometer
from instruments.dosing import DosingStation
from instruments.furnace import BoxFurnace
from instruments.protocol import StepDriver
from lab.instrument_kind import InstrumentKind
from lab.spec import WorkflowSpec
from lab.workflow import plan_steps

PARAMS = {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 1000.0, "dwell_h": 1.0, "atmosphere": "air"}


def _command(kind: InstrumentKind) -> dict:
    (step,) = [s for s in plan_steps(PARAMS, WorkflowSpec()) if s.instrument_kind == kind]
    return dict(step.command)


@pytest.mark.parametrize(("cls", "kind"), [(DosingStation, InstrumentKind.DOSING), (BoxFurnace, InstrumentKind.FURNACE),
                                           (Diffractometer, InstrumentKind.XRD)])
def test_each_driver_declares_its_kind_and_results(cls: type, kind: InstrumentKind) -> None:
    assert cls.kind is kind
    assert cls.results and all(r.dtype == "<f8" and r.units for r in cls.results)


def _run(driver: StepDriver, clock, sample: str, command: dict) -> list:
    assert isinstance(driver, StepDriver)
    status = driver.start_step(f"{sample}:{driver.kind}", sample, command)
    assert status.state == "busy"
    again = driver.start_step(f"{sample}:{driver.kind}", sample, command)  # idempotent: the same job
    assert again.job_key == status.job_key
    clock.advance(driver.step_duration_s(command) + 120.0)
    results = driver.collect_step(f"{sample}:{driver.kind}")
    driver.release_step(f"{sample}:{driver.kind}")
    driver.release_step(f"{sample}:{driver.kind}")  # safe to repeat
    assert [m.name for m in results] == [r.name for r in driver.results]
    assert [m.units for m in results] == [r.units for r in driver.results]
    return results


def test_dosing_step_yields_the_dosed_masses(doser: DosingStation, clock) -> None:
    command = _command(InstrumentKind.DOSING)
    (dosed,) = _run(doser, clock, "S-1", command)
    masses = dosed.array()
    assert dosed.meta["precursors"] == sorted(command["masses_mg"])
    assert np.allclose(masses, [command["masses_mg"][p] for p in dosed.meta["precursors"]], rtol=0.05)


def test_furnace_step_yields_the_temperature_log_and_unloads(furnace: BoxFurnace, clock) -> None:
    command = _command(InstrumentKind.FURNACE)
    (log,) = _run(furnace, clock, "S-2", command)
    data = log.array()
    assert data.ndim == 2 and data.shape[1] == 2 and data[:, 1].max() == pytest.approx(command["temperature_c"], abs=5.0)
    assert furnace.job_status("S-2:furnace").state == "unloaded"


def test_xrd_step_yields_the_whole_pattern(xrd: Diffractometer, clock) -> None:
    command = _command(InstrumentKind.XRD)
    (pattern,) = _run(xrd, clock, "S-3", command)
    data = pattern.array()
    assert data.shape[1] == 2 and data[0, 0] == command["start_deg"] and pattern.meta["radiation"] == "CuKa"
