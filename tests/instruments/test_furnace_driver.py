"""BoxFurnace against its simulator over a real pseudo-terminal."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.errors import (
    CommandError,
    DeviceLimitError,
    InstrumentBusy,
    JobAlreadyRun,
    JobConflict,
    LimitViolation,
    UnknownJob,
)
from instruments.furnace import BoxFurnace, FurnaceLimits, anneal_duration_s
from instruments.protocol import Instrument, InstrumentStatus, JobInstrument

PROGRAM = {"temperature_c": 1000.0, "dwell_h": 4.0, "ramp_c_per_min": 10.0, "atmosphere": "air"}


def test_identify_and_idle_status(furnace):
    assert furnace.identify() == "LabSim,BoxFurnace-1400,furnace-1,1.0"
    status = furnace.status()
    assert status.state == "idle" and status.job_key is None and status.sample_id is None
    assert status.detail["temperature_c"] == 25.0
    assert isinstance(furnace, Instrument) and isinstance(furnace, JobInstrument)


def test_program_runs_through_its_phases(furnace, furnace_sim, clock, tray):
    status = furnace.start_program("job-1", "S-1", **PROGRAM)
    total = anneal_duration_s(1000.0, 4.0, 10.0)
    assert (status.state, status.job_key, status.sample_id) == ("busy", "job-1", "S-1")
    assert status.detail["phase"] == "ramping" and status.seconds_left == pytest.approx(total)
    assert status.detail["setpoint_c"] == 1000.0 and status.detail["atmosphere"] == "air"
    clock.advance(97.5 * 60 + 60)
    assert furnace.status().detail["phase"] == "dwelling"
    assert furnace.status().detail["temperature_c"] == 1000.0
    clock.advance(4 * 3600)
    assert furnace.status().detail["phase"] == "cooling"
    assert "S-1" not in tray
    clock.advance(total)
    done = furnace.status()
    assert (done.state, done.seconds_left) == ("done", 0.0)
    assert tray.get("S-1").anneals[0].temperature_c == 1000.0
    assert furnace_sim.starts == 1


def test_expected_duration_matches_the_simulated_program(furnace, clock):
    expected = furnace.expected_duration_s(900.0, 2.0, 5.0)
    assert expected == pytest.approx((875 / 5 + 800 / 5) * 60 + 2 * 3600)
    furnace.start_program("job-1", "S-1", 900.0, 2.0, 5.0, "N2")
    clock.advance(expected - 1)
    assert furnace.status().state == "busy"
    clock.advance(1)
    assert furnace.status().state == "done"


def test_start_program_is_idempotent(furnace, furnace_sim, traffic):
    first = furnace.start_program("job-1", "S-1", **PROGRAM)
    runs_before = sum(w.startswith(b"PROG:RUN") for w in _writes(traffic))
    second = furnace.start_program("job-1", "S-1", **PROGRAM)
    assert furnace_sim.starts == 1
    assert second.job_key == first.job_key == "job-1"
    assert sum(w.startswith(b"PROG:RUN") for w in _writes(traffic)) == runs_before == 1


def test_device_side_run_is_idempotent_too(furnace, furnace_sim):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    furnace.scpi.write('PROG:RUN "job-1","S-1"')
    assert furnace_sim.starts == 1


def test_same_key_with_other_parameters_is_a_conflict(furnace):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    with pytest.raises(JobConflict, match="setpoint_c"):
        furnace.start_program("job-1", "S-1", **{**PROGRAM, "temperature_c": 1100.0})
    with pytest.raises(JobConflict, match="sample_id"):
        furnace.start_program("job-1", "S-2", **PROGRAM)


def test_another_job_while_busy_or_loaded_is_refused(furnace, clock):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    with pytest.raises(InstrumentBusy, match="job-1") as info:
        furnace.start_program("job-2", "S-2", **PROGRAM)
    assert info.value.code == 201
    clock.advance(24 * 3600)
    with pytest.raises(InstrumentBusy, match="done"):
        furnace.start_program("job-2", "S-2", **PROGRAM)
    assert furnace.unload("job-1") == "S-1"
    assert furnace.start_program("job-2", "S-2", **PROGRAM).job_key == "job-2"


def test_unload_is_idempotent_and_a_finished_key_never_runs_again(furnace, furnace_sim, clock):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    with pytest.raises(InstrumentBusy, match="abort"):
        furnace.unload("job-1")
    clock.advance(24 * 3600)
    assert furnace.unload("job-1") == "S-1"
    assert furnace.unload("job-1") == "S-1"
    assert furnace.status().state == "idle"
    assert furnace.job_status("job-1").state == "unloaded"
    assert furnace.start_program("job-1", "S-1", **PROGRAM).state == "unloaded"
    assert furnace_sim.starts == 1
    with pytest.raises(JobAlreadyRun):
        furnace.scpi.write('PROG:RUN "job-1","S-1"')


def test_unknown_jobs(furnace):
    assert furnace.job_status("never-sent").state == "unknown"
    with pytest.raises(UnknownJob):
        furnace.unload("never-sent")
    with pytest.raises(UnknownJob):
        furnace.temperature_log()


def test_abort_keeps_the_sample_until_unloaded(furnace, clock, tray):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    clock.advance(3600)
    furnace.abort()
    furnace.abort()
    status = furnace.status()
    assert (status.state, status.seconds_left) == ("aborted", 0.0)
    clock.advance(24 * 3600)
    assert furnace.status().state == "aborted"
    assert furnace.unload("job-1") == "S-1"
    assert "S-1" not in tray  # an aborted anneal records nothing


def test_temperature_log(furnace, clock):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    clock.advance(2 * 3600)
    log = furnace.temperature_log()
    assert log.shape == (121, 2) and log.dtype == np.float64
    assert log[0, 0] == 0.0 and log[-1, 0] == pytest.approx(2.0)
    assert log[0, 1] == pytest.approx(25.0, abs=2) and log[-1, 1] == pytest.approx(1000.0, abs=2)
    clock.advance(24 * 3600)
    furnace.unload("job-1")
    full = furnace.temperature_log("job-1")
    assert full[-1, 0] == pytest.approx(anneal_duration_s(1000, 4, 10) / 3600, abs=1 / 60)
    assert full[:, 1].max() == pytest.approx(1000.0, abs=2)
    np.testing.assert_array_equal(full[:121], log)


def test_errors_drains_the_device_queue(furnace):
    assert furnace.errors() == []
    with pytest.raises(CommandError):
        furnace.scpi.write("PROG:FLY")
    with pytest.raises(CommandError):
        furnace.scpi.write('PROG:RUN "job-1","S-1"')  # nothing staged
    codes = [code for code, _ in furnace.errors()]
    assert codes == [-113, -109]
    assert furnace.errors() == []


@pytest.mark.parametrize(("change", "named"), [
    ({"temperature_c": 1500.0}, "temperature_c=1500.0 °C is outside the allowed range 100.0..1400.0 °C"),
    ({"temperature_c": float("nan")}, "temperature_c"),
    ({"ramp_c_per_min": 20.0}, "ramp_c_per_min=20.0 °C/min"),
    ({"dwell_h": 0.1}, "dwell_h=0.1 h"),
    ({"dwell_h": 30}, "dwell_h=30 h"),
    ({"atmosphere": "H2"}, "atmosphere='H2' is not allowed; expected one of air, O2, N2, Ar"),
])
def test_out_of_limit_programs_never_reach_the_wire(furnace, traffic, change, named):
    with pytest.raises(LimitViolation, match=named.replace("(", r"\(").replace(".", r"\.")):
        furnace.start_program("job-1", "S-1", **{**PROGRAM, **change})
    assert traffic == []


@pytest.mark.parametrize("bad", ["", "has space", 'quo"te', "comma,key", "x" * 97])
def test_bad_identifiers_never_reach_the_wire(furnace, traffic, bad):
    with pytest.raises(LimitViolation, match="job_key"):
        furnace.start_program(bad, "S-1", **PROGRAM)
    with pytest.raises(LimitViolation, match="sample_id"):
        furnace.start_program("job-1", bad, **PROGRAM)
    assert traffic == []


def test_scientist_limits_are_stricter_than_the_device(furnace_link, clock):
    from instruments.transport import SerialTransport

    strict = BoxFurnace(SerialTransport(furnace_link.url, timeout=1.0), FurnaceLimits(max_temperature_c=1200))
    with pytest.raises(LimitViolation, match="1200"):
        strict.start_program("job-1", "S-1", **{**PROGRAM, "temperature_c": 1300.0})
    lax = BoxFurnace(SerialTransport(furnace_link.url, timeout=1.0), FurnaceLimits(max_temperature_c=2000))
    with pytest.raises(DeviceLimitError, match="SOUR:TEMP") as info:
        lax.start_program("job-1", "S-1", **{**PROGRAM, "temperature_c": 1800.0})
    assert info.value.code == -222
    strict.close()
    lax.close()


def test_status_round_trips_through_a_dict(furnace):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    status = furnace.status()
    assert InstrumentStatus.from_dict(status.to_dict()) == status


def _writes(traffic: list[dict]) -> list[bytes]:
    return [e["data"].encode("latin-1") for e in traffic if e["dir"] == "write"]
