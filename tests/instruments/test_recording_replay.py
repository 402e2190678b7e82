"""Record a furnace session against the simulator, then replay it with no simulator at all."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from instruments.diffractometer import Diffractometer
from instruments.errors import InstrumentTimeout, ReplayMismatch
from instruments.furnace import BoxFurnace
from instruments.recording import RecordingTransport, ReplayTransport, load_recording
from instruments.transport import SerialTransport

PROGRAM = {"temperature_c": 950.0, "dwell_h": 2.0, "ramp_c_per_min": 5.0, "atmosphere": "O2"}


def furnace_session(furnace: BoxFurnace, advance: Callable[[float], None], lose_next_reply: Callable[[], None]) -> dict:
    """A typical anneal as the engine drives it; returns everything the driver reported."""
    seen = {"idn": furnace.identify(), "start": furnace.start_program("job-7", "S-7", **PROGRAM)}
    seen["again"] = furnace.start_program("job-7", "S-7", **PROGRAM)
    advance(3600.0)
    seen["mid"] = furnace.status()
    lose_next_reply()
    try:
        furnace.status()  # the simulator drops this reply: the recording keeps the timeout
    except InstrumentTimeout as exc:
        seen["timeout"] = type(exc).__name__
    advance(24 * 3600.0)
    seen["done"] = furnace.status()
    seen["log"] = furnace.temperature_log()
    seen["sample"] = furnace.unload("job-7")
    seen["errors"] = furnace.errors()
    return seen


def test_furnace_session_replays_without_the_simulator(furnace_link, furnace_sim, clock, tmp_path):
    path = tmp_path / "furnace-session.jsonl"
    transport = RecordingTransport(SerialTransport(furnace_link.url, timeout=0.5), path, clock)
    recorded_driver = BoxFurnace(transport, name="furnace-1")
    recorded = furnace_session(recorded_driver, clock.advance, lambda: furnace_sim.faults.force("no_reply"))
    recorded_driver.close()
    assert recorded["timeout"] == "InstrumentTimeout"
    events = load_recording(path)
    assert {e["dir"] for e in events} == {"write", "read_line", "read_exact", "error"}
    assert all(json.dumps(e) for e in events)
    furnace_link.close()  # no device from here on

    replay = ReplayTransport(path)
    replayed = furnace_session(BoxFurnace(replay, name="furnace-1"), lambda s: None, lambda: None)
    replay.assert_finished()
    np.testing.assert_array_equal(replayed.pop("log"), recorded.pop("log"))
    assert replayed == recorded


def test_replay_names_the_first_deviation(furnace, traffic, clock):
    furnace.start_program("job-1", "S-1", **PROGRAM)
    replay = ReplayTransport(traffic)
    driver = BoxFurnace(replay, name="furnace-1")
    with pytest.raises(ReplayMismatch, match=r"SOUR:TEMP 1000\.0.*SOUR:TEMP 950\.0"):
        driver.start_program("job-1", "S-1", **{**PROGRAM, "temperature_c": 1000.0})


def test_replay_reports_unfinished_and_overlong_sessions(furnace, traffic):
    furnace.identify()
    furnace.status()
    replay = ReplayTransport(list(traffic))
    driver = BoxFurnace(replay, name="furnace-1")
    driver.identify()
    with pytest.raises(ReplayMismatch, match="stopped at step 3 of 4"):
        replay.assert_finished()
    driver.status()
    with pytest.raises(ReplayMismatch, match="after the end of the recording"):
        driver.identify()


def test_recording_keeps_binary_blocks_bit_for_bit(xrd, traffic, clock, pattern_source):
    xrd.start_scan("scan-1", "S-1")
    clock.advance(3600)
    two_theta, counts = xrd.fetch_pattern("scan-1")
    replayed = replay_data_query(traffic).fetch_pattern("scan-1")
    assert replayed[1].tobytes() == counts.tobytes() == pattern_source("S-1")[1].tobytes()


def replay_data_query(traffic: list[dict]) -> Diffractometer:
    """A diffractometer driver replaying only the last data query of ``traffic``."""
    start = max(i for i, e in enumerate(traffic) if e["dir"] == "write" and e["data"].startswith("SCAN:DATA?"))
    return Diffractometer(ReplayTransport(traffic[start:]), name="xrd")
