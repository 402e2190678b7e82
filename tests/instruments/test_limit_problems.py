"""The drivers' limit checks as pure functions: every refusal listed, no transport, each limit defined once."""

from __future__ import annotations

import pytest

from instruments.diffractometer import Diffractometer, XrdLimits
from instruments.dosing import DosingLimits, DosingStation
from instruments.errors import LimitViolation
from instruments.furnace import BoxFurnace, FurnaceLimits
from instruments.registry import make_limits, step_limit_problems
from instruments.spectrometer import SpectrometerLimits, UvVisSpectrometer
from instruments.transport import SerialTransport


def test_a_furnace_program_lists_every_refusal_and_the_driver_raises_the_first() -> None:
    command = {"temperature_c": 2000.0, "dwell_h": 30.0, "ramp_c_per_min": 5.0, "atmosphere": "vacuum"}
    problems = BoxFurnace.step_problems(command, FurnaceLimits())
    assert [arg for arg, _ in problems] == ["temperature_c", "dwell_h", "atmosphere"]
    assert "100.0..1400.0 °C" in problems[0][1] and "expected one of air, O2, N2, Ar" in problems[2][1]
    furnace = BoxFurnace(SerialTransport("/dev/nonexistent"), FurnaceLimits())
    with pytest.raises(LimitViolation) as info:
        furnace.check_program(**command)
    assert str(info.value) == problems[0][1]
    assert step_limit_problems("furnace", {**command, "temperature_c": 1000.0, "dwell_h": 4.0, "atmosphere": "air"},
                               FurnaceLimits()) == []


def test_dosing_lists_unloaded_precursors_and_masses() -> None:
    limits = DosingLimits()
    problems = DosingStation.step_problems({"masses_mg": {"SrCO3": 600.0, "TiO2": 0.5}}, limits)
    assert problems == [("precursor", "precursor='SrCO3' is not allowed; expected one of BaCO3, TiO2"),
                        ("masses_mg", "masses_mg['TiO2']=0.5 mg is outside the allowed range 1.0..5000.0 mg")]
    too_much = {"masses_mg": {"BaCO3": 4000.0, "TiO2": 3000.0}}
    assert step_limit_problems("dosing", too_much, DosingLimits(max_total_mg=6000.0)) == [
        ("masses_mg", "total mass 7000.0 mg is above the vial's limit of 6000.0 mg")]
    station = DosingStation(SerialTransport("/dev/nonexistent"), limits)
    assert station.check_masses({"BaCO3": 10, "TiO2": 20}) == {"BaCO3": 10.0, "TiO2": 20.0}


def test_scans_and_spectra_are_checked_without_a_transport() -> None:
    assert step_limit_problems("xrd", {"start_deg": 2.0, "stop_deg": 150.0, "step_deg": 0.02}, XrdLimits()) == [
        ("start_deg", "start_deg=2.0 degrees is outside the allowed range 5.0..120.0 degrees"),
        ("stop_deg", "stop_deg=150.0 degrees is outside the allowed range 5.0..120.0 degrees")]
    assert Diffractometer.step_problems({"start_deg": 10.0, "stop_deg": 80.0, "step_deg": 0.02}, XrdLimits()) == []
    (arg, msg), = Diffractometer.step_problems({"start_deg": 10.0, "stop_deg": 110.0, "step_deg": 0.005},
                                               XrdLimits(max_points=1000))
    assert arg == "step_deg" and "at most 1000 are allowed" in msg
    assert UvVisSpectrometer.step_problems({"start_nm": 800.0, "stop_nm": 250.0, "step_nm": 5.0},
                                           SpectrometerLimits()) == [
        ("stop_nm", "stop_nm=250.0 must be above start_nm=800.0 (nm)")]


def test_make_limits_takes_lab_file_values_and_refuses_wrong_ones() -> None:
    built = make_limits("furnace", max_temperature_c=1200, atmospheres=["air", "N2"])
    assert built == FurnaceLimits(max_temperature_c=1200.0, atmospheres=("air", "N2"))
    assert make_limits("dosing") == DosingLimits()
    for values, words in [({"max_temp": 900}, r"unknown furnace limit\(s\) max_temp"),
                          ({"max_temperature_c": "hot"}, "expected a number"),
                          ({"atmospheres": "air"}, "expected a list of names")]:
        with pytest.raises(ValueError, match=words):
            make_limits("furnace", **values)
    with pytest.raises(ValueError, match="expected a whole number"):
        make_limits("xrd", max_points=1.5)
