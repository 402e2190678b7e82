"""DosingStation against its simulator over a real pseudo-terminal."""

from __future__ import annotations

import pytest

from instruments.dosing import dosing_duration_s
from instruments.errors import (
    DeviceLimitError,
    InstrumentBusy,
    JobAborted,
    JobConflict,
    LimitViolation,
    NotReady,
)
from instruments.transport import SerialTransport

MASSES = {"BaCO3": 591.2, "TiO2": 408.8}


def test_identify_and_idle(doser):
    assert doser.identify().startswith("LabSim,PowderDoser-2,doser")
    assert doser.status().state == "idle"


def test_dose_takes_minutes_and_reads_the_balance(doser, doser_sim, clock, tray):
    status = doser.start_dose("dose-1", "S-1", MASSES)
    expected = doser.expected_duration_s(MASSES)
    assert 5 * 60 <= expected <= 10 * 60
    assert status.state == "busy" and status.seconds_left == pytest.approx(expected)
    assert status.detail["phase"] == "taring"
    clock.advance(60)
    assert doser.status().detail["phase"] == "dosing"
    with pytest.raises(NotReady, match="not finished"):
        doser.result("dose-1")
    clock.advance(expected - 60)
    result = doser.result("dose-1")
    assert set(result) == set(MASSES)
    for precursor, target in MASSES.items():
        assert result[precursor] == pytest.approx(target, abs=5.0)
        assert result[precursor] != target  # with this seed, the balance error shows in both readings
    assert tray.get("S-1").dosed_mg == result
    assert doser.result("dose-1") == result  # repeatable
    assert doser.status().state == "done"


def test_start_dose_is_idempotent(doser, doser_sim, clock):
    doser.start_dose("dose-1", "S-1", MASSES)
    doser.start_dose("dose-1", "S-1", MASSES)
    clock.advance(3600)
    assert doser.start_dose("dose-1", "S-1", MASSES).state == "done"
    assert doser_sim.starts == 1
    with pytest.raises(JobConflict, match="sample_id"):
        doser.start_dose("dose-1", "S-9", MASSES)


def test_a_finished_dose_does_not_block_the_next(doser, clock):
    doser.start_dose("dose-1", "S-1", MASSES)
    with pytest.raises(InstrumentBusy):
        doser.start_dose("dose-2", "S-2", MASSES)
    clock.advance(dosing_duration_s(MASSES))
    doser.start_dose("dose-2", "S-2", {"TiO2": 100.0})
    assert doser.status().job_key == "dose-2"
    assert doser.job_status("dose-1").state == "done"
    assert set(doser.result("dose-1")) == set(MASSES)


def test_aborted_dose_has_no_result(doser, clock):
    doser.start_dose("dose-1", "S-1", MASSES)
    doser.abort()
    clock.advance(3600)
    assert doser.status().state == "aborted"
    with pytest.raises(JobAborted):
        doser.result("dose-1")


@pytest.mark.parametrize(("masses", "named"), [
    ({}, "non-empty"),
    ({"SrCO3": 100.0}, "precursor='SrCO3' is not allowed; expected one of BaCO3, TiO2"),
    ({"BaCO3": 0.5}, "masses_mg['BaCO3']=0.5 mg is outside the allowed range 1.0..5000.0 mg"),
    ({"BaCO3": 6000.0}, "6000.0 mg"),
    ({"BaCO3": "lots"}, "is not a number"),
])
def test_out_of_limit_doses_never_reach_the_wire(doser, traffic, masses, named):
    with pytest.raises(LimitViolation) as info:
        doser.start_dose("dose-1", "S-1", masses)
    assert named in str(info.value)
    assert traffic == []


def test_device_refuses_what_a_lax_driver_lets_through(doser_link):
    from instruments.dosing import DosingLimits, DosingStation

    lax = DosingStation(SerialTransport(doser_link.url, timeout=1.0), DosingLimits(max_mg=1e6))
    with pytest.raises(DeviceLimitError, match="DOSE:MASS"):
        lax.start_dose("dose-1", "S-1", {"BaCO3": 9000.0})
    lax.close()
