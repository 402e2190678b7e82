"""Diffractometer against its simulator over a real pseudo-terminal."""

from __future__ import annotations

import pytest

from instruments.diffractometer import scan_points
from instruments.errors import (
    InstrumentBusy,
    JobAborted,
    JobConflict,
    LimitViolation,
    NotReady,
    UnknownJob,
)


def test_identify_and_idle(xrd):
    assert xrd.identify().startswith("LabSim,PowderXRD-600,xrd")
    status = xrd.status()
    assert status.state == "idle" and status.detail["start_deg"] == 10.0


def test_a_3501_point_pattern_arrives_bit_for_bit(xrd, clock, pattern_source):
    status = xrd.start_scan("scan-1", "S-1")
    expected = xrd.expected_duration_s()
    assert 20 * 60 <= expected <= 60 * 60
    assert status.seconds_left == pytest.approx(expected)
    clock.advance(expected)
    two_theta, counts = xrd.fetch_pattern("scan-1")
    want_tt, want_counts = pattern_source("S-1")
    assert two_theta.size == counts.size == 3501
    assert two_theta.tobytes() == want_tt.tobytes()
    assert counts.tobytes() == want_counts.tobytes()


def test_scan_phases_and_position(xrd, clock):
    xrd.start_scan("scan-1", "S-1", 20.0, 60.0, 0.05, 1.0)
    assert xrd.status().detail["phase"] == "loading"
    clock.advance(90 + 100)
    status = xrd.status()
    assert status.detail["phase"] == "scanning"
    assert status.detail["two_theta_deg"] == pytest.approx(25.0)
    with pytest.raises(NotReady):
        xrd.fetch_pattern("scan-1")
    clock.advance(3600)
    two_theta, _ = xrd.fetch_pattern("scan-1")
    assert two_theta.size == scan_points(20.0, 60.0, 0.05) == 801
    assert two_theta[0] == 20.0 and two_theta[-1] == pytest.approx(60.0)


def test_start_scan_is_idempotent(xrd, xrd_sim):
    xrd.start_scan("scan-1", "S-1")
    xrd.start_scan("scan-1", "S-1")
    assert xrd_sim.starts == 1
    with pytest.raises(JobConflict, match="step_deg"):
        xrd.start_scan("scan-1", "S-1", step_deg=0.05)
    with pytest.raises(InstrumentBusy):
        xrd.start_scan("scan-2", "S-2")


def test_aborted_and_unknown_scans(xrd):
    xrd.start_scan("scan-1", "S-1")
    xrd.abort()
    with pytest.raises(JobAborted):
        xrd.fetch_pattern("scan-1")
    with pytest.raises(UnknownJob):
        xrd.fetch_pattern("scan-x")


@pytest.mark.parametrize(("scan", "named"), [
    ({"start_deg": 2.0}, "start_deg=2.0 degrees is outside the allowed range 5.0..120.0 degrees"),
    ({"stop_deg": 130.0}, "stop_deg=130.0"),
    ({"step_deg": 0.001}, "step_deg=0.001"),
    ({"start_deg": 50.0, "stop_deg": 40.0}, "must be above start_deg"),
    ({"start_deg": 5.0, "stop_deg": 120.0, "step_deg": 0.005}, "23001 points; at most 20000"),
    ({"seconds_per_step": 60.0}, "seconds_per_step=60.0 s"),
])
def test_out_of_limit_scans_never_reach_the_wire(xrd, traffic, scan, named):
    with pytest.raises(LimitViolation) as info:
        xrd.start_scan("scan-1", "S-1", **scan)
    assert named in str(info.value)
    assert traffic == []

