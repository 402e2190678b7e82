"""The diffractometer simulator on its own: pattern_source calls, grids, failures."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.diffractometer import scan_duration_s
from lab.clock import SimulatedClock
from simulators.diffractometer import DiffractometerSimulator, scan_grid

GRID = 10.0 + 0.02 * np.arange(3501)


def block_values(payload: bytes) -> np.ndarray:
    digits = int(payload[1:2])
    length = int(payload[2:2 + digits])
    assert payload[-1:] == b"\n" and len(payload) == 2 + digits + length + 1
    return np.frombuffer(payload[2 + digits:-1], "<f8")


def test_pattern_source_is_called_once_when_the_scan_completes():
    calls = []

    def source(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        calls.append(sample_id)
        return GRID, np.full(GRID.size, 7.0)

    sim = DiffractometerSimulator("xrd", SimulatedClock(), source)
    assert sim.process(b'SCAN:RUN "k","S-1"').payload == b"OK\n"
    sim.clock.advance(scan_duration_s(10, 80, 0.02, 0.5) - 1)
    sim.process(b"SCAN:STAT?")
    assert calls == []
    sim.clock.advance(1)
    sim.process(b"SCAN:STAT?")
    sim.process(b'SCAN:DATA? "k"')
    assert calls == ["S-1"]
    values = block_values(sim.process(b'SCAN:DATA? "k"').payload)
    assert values.size == 7002 and np.all(values[3501:] == 7.0)


def test_a_source_on_another_grid_is_interpolated():
    coarse = np.arange(20.0, 60.01, 0.5)
    sim = DiffractometerSimulator("xrd", SimulatedClock(), lambda s: (coarse, coarse * 2.0))
    for line in (b"SCAN:STEP 0.25", b"SCAN:STAR 10", b"SCAN:STOP 80", b'SCAN:RUN "k","S"'):
        assert sim.process(line).payload == b"OK\n"
    sim.clock.advance(10 * 3600)
    values = block_values(sim.process(b'SCAN:DATA? "k"').payload)
    two_theta, counts = np.split(values, 2)
    np.testing.assert_array_equal(two_theta, scan_grid(10, 80, 0.25))
    inside = (two_theta >= 20) & (two_theta <= 60)
    np.testing.assert_allclose(counts[inside], two_theta[inside] * 2.0)
    assert np.all(counts[~inside] == 0.0)


def test_a_failing_source_is_reported_by_the_device(caplog):
    def source(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        raise KeyError(sample_id)

    sim = DiffractometerSimulator("xrd", SimulatedClock(), source)
    sim.process(b'SCAN:RUN "k","S-404"')
    sim.clock.advance(3 * 3600)
    reply = sim.process(b'SCAN:DATA? "k"').payload
    assert reply.startswith(b"ERR 501,\"No pattern for sample S-404: KeyError")
    assert "pattern_source failed" in caplog.text


def test_settings_are_checked_by_the_device():
    sim = DiffractometerSimulator("xrd", SimulatedClock(), lambda s: (GRID, GRID))
    assert sim.process(b"SCAN:STAR 2").payload.startswith(b"ERR -222")
    sim.process(b"SCAN:STAR 60")
    sim.process(b"SCAN:STOP 50")
    assert sim.process(b'SCAN:RUN "k","S"').payload.startswith(b"ERR -222,\"Data out of range: stop 50.0")


def test_pattern_source_must_be_callable():
    with pytest.raises(TypeError, match="pattern_source must be a callable"):
        DiffractometerSimulator("xrd", SimulatedClock(), None)  # type: ignore[arg-type]
