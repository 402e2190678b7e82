"""Every injected fault gives its typed error, and the driver recovers on the next command."""

from __future__ import annotations

import time

import numpy as np
import pytest

from instruments.errors import (
    GarbledReply,
    HardwareFault,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
)
from instruments.furnace import BoxFurnace
from instruments.transport import SerialTransport
from lab.clock import SimulatedClock
from simulators.faults import FaultPlan
from simulators.furnace import FurnaceSimulator
from simulators.samples import SampleTray
from simulators.serve import serve_socket

PROGRAM = {"temperature_c": 1000.0, "dwell_h": 4.0, "ramp_c_per_min": 10.0, "atmosphere": "air"}
EXPECTED = {
    "no_reply": InstrumentTimeout,
    "late_reply": InstrumentTimeout,
    "garbled": GarbledReply,
    "drop": InstrumentConnectionError,
    "device_error": HardwareFault,
}
DRIVERS = ["furnace", "doser", "xrd"]


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("which", DRIVERS)
def test_fault_gives_typed_error_then_driver_recovers(request, which, kind):
    driver = request.getfixturevalue(which)
    sim = request.getfixturevalue(f"{which}_sim")
    identity = driver.identify()
    sim.faults.force(kind)
    with pytest.raises(EXPECTED[kind]) as info:
        driver.status()
    assert isinstance(info.value, InstrumentError)
    if kind == "device_error":
        assert info.value.code == 500 and "heater" in info.value.message
    # The next command gets its own reply, never a stale one (a late status reply would not
    # parse as an identity string), and the link is back after a drop.
    assert driver.identify() == identity
    assert driver.status().state == "idle"
    assert sim.faults.history[-1][1] == kind


def test_drop_reconnects_to_a_fresh_pseudo_terminal(furnace, furnace_sim, furnace_link):
    furnace.identify()
    furnace_sim.faults.force("drop")
    with pytest.raises(InstrumentConnectionError):
        furnace.status()
    assert furnace.status().state == "idle"
    assert furnace_link.connections == 2


def test_lost_run_reply_then_retry_starts_once(furnace, furnace_sim):
    for kind in ("no_reply", "drop", "garbled", "late_reply"):
        key = f"job-{kind}"
        furnace_sim.faults.force(kind, on="PROG:RUN")
        with pytest.raises(EXPECTED[kind]):
            furnace.start_program(key, "S-1", **PROGRAM)
        status = furnace.start_program(key, "S-1", **PROGRAM)  # the engine's retry
        assert (status.state, status.job_key) == ("busy", key)
        furnace.abort()
        furnace.unload(key)
    assert furnace_sim.starts == 4


def test_device_error_on_run_starts_nothing(furnace, furnace_sim):
    furnace_sim.faults.force("device_error", on="PROG:RUN")
    with pytest.raises(HardwareFault):
        furnace.start_program("job-1", "S-1", **PROGRAM)
    assert furnace_sim.starts == 0
    assert furnace.job_status("job-1").state == "unknown"
    assert furnace.start_program("job-1", "S-1", **PROGRAM).state == "busy"
    assert furnace_sim.starts == 1
    assert (500, "Hardware fault: heater circuit open") in furnace.errors()


@pytest.mark.parametrize("kind", ["garbled", "late_reply", "no_reply", "drop"])
def test_block_transfer_recovers_from_faults(xrd, xrd_sim, clock, pattern_source, kind):
    xrd.start_scan("scan-1", "S-1")
    clock.advance(3600)
    xrd_sim.faults.force(kind)
    with pytest.raises(EXPECTED[kind]):
        xrd.fetch_pattern("scan-1")
    two_theta, counts = xrd.fetch_pattern("scan-1")
    assert counts.tobytes() == pattern_source("S-1")[1].tobytes()
    assert two_theta.size == 3501


def test_stuck_program_never_advances_until_aborted(furnace, furnace_sim, clock, tray):
    furnace_sim.faults.force("stuck")
    furnace.start_program("job-1", "S-1", **PROGRAM)
    clock.advance(6 * 3600)  # stuck jobs freeze half way through (here: 4.3 h in)
    frozen = furnace.status()
    clock.advance(48 * 3600)
    still = furnace.status()
    assert still.state == "busy"
    assert still.seconds_left == frozen.seconds_left > 0
    assert still.detail["phase"] == frozen.detail["phase"]
    assert "S-1" not in tray
    furnace.abort()
    assert furnace.status().state == "aborted"
    assert furnace.unload("job-1") == "S-1"


def test_stuck_doser_and_scan(doser, doser_sim, xrd, xrd_sim, clock):
    doser_sim.faults.force("stuck")
    xrd_sim.faults.force("stuck")
    doser.start_dose("d-1", "S-1", {"BaCO3": 500.0})
    xrd.start_scan("x-1", "S-0")
    clock.advance(24 * 3600)
    assert doser.status().state == xrd.status().state == "busy"


def test_scheduled_and_random_faults_are_survivable(furnace_link, clock):
    """A noisy link: every error is typed, and a retry loop always gets through."""
    sim = furnace_link.device
    sim.faults = type(sim.faults)(FaultPlan(garbled=0.1, no_reply=0.05, device_error=0.05, seed=11,
                                            schedule=((3, "drop"),)))
    driver = BoxFurnace(SerialTransport(furnace_link.url, timeout=0.1), name="furnace-1")
    outcomes = []
    for _ in range(30):
        for _attempt in range(10):
            try:
                outcomes.append(driver.status().state)
                break
            except InstrumentError as exc:
                outcomes.append(type(exc).__name__)
    assert outcomes.count("idle") == 30
    assert {"GarbledReply", "InstrumentConnectionError"} <= set(outcomes)
    driver.close()


def test_socket_transport_survives_a_drop():
    clock = SimulatedClock()
    sim = FurnaceSimulator("furnace-9", clock, SampleTray())
    with serve_socket(sim) as served:
        assert served.url.startswith("socket://127.0.0.1:")
        furnace = BoxFurnace(SerialTransport(served.url, timeout=0.5), name="furnace-9")
        furnace.start_program("job-1", "S-1", **PROGRAM)
        sim.faults.force("drop")
        started = time.monotonic()
        with pytest.raises(InstrumentConnectionError):
            furnace.status()
        assert time.monotonic() - started < 1.0  # pyserial sleeps 0.3 s when it closes a socket
        assert furnace.status().job_key == "job-1"
        assert served.connections == 2
        clock.advance(2 * 3600)
        assert furnace.temperature_log().shape == (121, 2)
        furnace.close()
    assert np.isfinite(sim.temperature_log(sim.current)).all()
