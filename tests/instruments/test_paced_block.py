"""A whole pattern read over a line paced like a real serial line (9600 and 115200 baud).

The simulator side writes at the line's byte rate (:mod:`simulators.paced`), so the 16 bytes per
point of a pattern block take as long as on the wire; the driver must allow for that
(:meth:`instruments.serial_settings.SerialSettings.block_timeout_s`), not one command timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from instruments.diffractometer import Diffractometer, scan_duration_s, scan_points
from instruments.errors import InstrumentTimeout
from instruments.serial_settings import SerialSettings
from instruments.transport import SerialTransport
from lab.clock import SimulatedClock
from simulators.diffractometer import DiffractometerSimulator, scan_grid
from simulators.paced import PacedSocketServed, serve_paced
from tests.instruments.conftest import fake_pattern


def _scan(served: PacedSocketServed, clock: SimulatedClock, settings: SerialSettings, key: str,
          start: float, stop: float, step: float) -> tuple[Diffractometer, float]:
    xrd = Diffractometer(SerialTransport(served.url, settings=settings), name="xrd-1")
    xrd.start_scan(key, "S-1", start, stop, step, 0.5)
    clock.advance(scan_duration_s(start, stop, step, 0.5) + 1.0)
    return xrd, settings.transfer_s(16 * scan_points(start, stop, step))


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


def _served(clock: SimulatedClock, baudrate: int) -> Iterator[PacedSocketServed]:
    served = serve_paced(DiffractometerSimulator("xrd-1", clock, fake_pattern), baudrate=baudrate)
    yield served
    served.close()


@pytest.fixture
def line_9600(clock: SimulatedClock) -> Iterator[PacedSocketServed]:
    yield from _served(clock, 9600)


@pytest.fixture
def line_115200(clock: SimulatedClock) -> Iterator[PacedSocketServed]:
    yield from _served(clock, 115200)


def test_a_pattern_arrives_whole_at_9600_baud_in_far_longer_than_the_command_timeout(
        line_9600: PacedSocketServed, clock: SimulatedClock) -> None:
    settings = SerialSettings(baudrate=9600, timeout_s=2.0)
    xrd, line_s = _scan(line_9600, clock, settings, "k-9600", 20.0, 45.0, 0.05)  # 501 points, 8 kB
    assert line_s > 3 * settings.timeout_s
    began = time.monotonic()
    with xrd:
        two_theta, counts = xrd.fetch_pattern("k-9600")
    took = time.monotonic() - began
    grid = scan_grid(20.0, 45.0, 0.05)
    assert took > 0.9 * line_s and took < settings.block_timeout_s(16 * grid.size)
    np.testing.assert_array_equal(two_theta, grid)
    source_grid, source_counts = fake_pattern("S-1")
    np.testing.assert_array_equal(counts, np.interp(grid, source_grid, source_counts))


def test_the_full_3501_point_grid_arrives_whole_at_115200_baud(line_115200: PacedSocketServed,
                                                                  clock: SimulatedClock) -> None:
    settings = SerialSettings(baudrate=115200, timeout_s=2.0)
    xrd, line_s = _scan(line_115200, clock, settings, "k-115200", 10.0, 80.0, 0.02)
    assert line_s > settings.timeout_s  # 56 kB: about 4.9 s on the line
    began = time.monotonic()
    with xrd:
        two_theta, counts = xrd.fetch_pattern("k-115200")
    assert time.monotonic() - began > 0.9 * line_s
    assert two_theta.size == 3501 and two_theta[-1] == pytest.approx(80.0)
    np.testing.assert_array_equal(counts, fake_pattern("S-1")[1])  # bit for bit, the last point too
    assert counts[-1] > 0


def test_a_block_slower_than_the_declared_line_times_out(line_9600: PacedSocketServed,
                                                         clock: SimulatedClock) -> None:
    settings = SerialSettings(baudrate=115200, timeout_s=0.5)  # the line really runs at 9600
    xrd, _ = _scan(line_9600, clock, settings, "k-slow", 20.0, 30.0, 0.05)
    allowed = settings.block_timeout_s(16 * scan_points(20.0, 30.0, 0.05))
    began = time.monotonic()
    with xrd, pytest.raises(InstrumentTimeout, match="bytes arrived"):
        xrd.fetch_pattern("k-slow")
    assert time.monotonic() - began < allowed + settings.timeout_s + 0.5
