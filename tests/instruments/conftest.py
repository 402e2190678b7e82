"""Fixtures for the driver tests: simulators served on pseudo-terminals, drivers whose traffic is logged.

Also skips tests marked ``hardware`` unless ``LAB_HARDWARE=1``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from instruments.diffractometer import Diffractometer
from instruments.dosing import DosingStation
from instruments.furnace import BoxFurnace
from instruments.recording import RecordingTransport
from instruments.spectrometer import UvVisSpectrometer
from instruments.transport import SerialTransport
from lab.clock import SimulatedClock
from simulators.device import LineDevice
from simulators.diffractometer import DiffractometerSimulator
from simulators.dosing import DosingSimulator
from simulators.faults import FaultPlan
from simulators.furnace import FurnaceSimulator
from simulators.samples import SampleTray
from simulators.serve import Served, serve_pty
from simulators.spectrometer import SpectrometerSimulator

#: Driver read timeout in these tests (seconds); faults cost about this much each.
TIMEOUT_S = 0.5
#: Delay of injected late replies (real seconds), beyond the driver timeout.
LATE_S = 1.5  # a margin of 1 s: a busy machine may start the read late after the write
#: The default 2-theta grid of the materials world: 10-80 degrees by 0.02 (3501 points).
GRID = 10.0 + 0.02 * np.arange(3501)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("hardware") and os.environ.get("LAB_HARDWARE") != "1":
        pytest.skip("talks to a real instrument: set LAB_HARDWARE=1 and LAB_FURNACE_PORT=/dev/ttyUSB0 to run")


def fake_pattern(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
    """A pattern with noise bits that a lossy transfer would not keep (stands in for the world)."""
    rng = np.random.default_rng(zlib.crc32(sample_id.encode()))
    counts = 100.0 + 5000.0 * np.exp(-((GRID - 31.5) / 0.1) ** 2) + rng.random(GRID.size) * np.pi
    return GRID.copy(), counts


@pytest.fixture
def pattern_source() -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """``sample_id -> (two_theta, counts)`` on the 3501-point default grid."""
    return fake_pattern


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def tray() -> SampleTray:
    return SampleTray()


@pytest.fixture
def traffic() -> list[dict]:
    """The RecordingTransport log of the driver under test."""
    return []


def _serve(device: LineDevice) -> Iterator[Served]:
    served = serve_pty(device)
    yield served
    served.close()


def _transport(served: Served, traffic: list[dict], clock: SimulatedClock) -> RecordingTransport:
    return RecordingTransport(SerialTransport(served.url, timeout=TIMEOUT_S), traffic, clock)


@pytest.fixture
def furnace_sim(clock: SimulatedClock, tray: SampleTray) -> FurnaceSimulator:
    return FurnaceSimulator("furnace-1", clock, tray, FaultPlan(late_s=LATE_S))


@pytest.fixture
def furnace_link(furnace_sim: FurnaceSimulator) -> Iterator[Served]:
    yield from _serve(furnace_sim)


@pytest.fixture
def furnace(furnace_link: Served, traffic: list[dict], clock: SimulatedClock) -> Iterator[BoxFurnace]:
    driver = BoxFurnace(_transport(furnace_link, traffic, clock), name="furnace-1")
    yield driver
    driver.close()


@pytest.fixture
def doser_sim(clock: SimulatedClock, tray: SampleTray) -> DosingSimulator:
    return DosingSimulator("doser", clock, tray, FaultPlan(late_s=LATE_S), seed=3)


@pytest.fixture
def doser_link(doser_sim: DosingSimulator) -> Iterator[Served]:
    yield from _serve(doser_sim)


@pytest.fixture
def doser(doser_link: Served, traffic: list[dict], clock: SimulatedClock) -> Iterator[DosingStation]:
    driver = DosingStation(_transport(doser_link, traffic, clock), name="doser")
    yield driver
    driver.close()


@pytest.fixture
def xrd_sim(clock: SimulatedClock) -> DiffractometerSimulator:
    return DiffractometerSimulator("xrd", clock, fake_pattern, FaultPlan(late_s=LATE_S))


@pytest.fixture
def xrd_link(xrd_sim: DiffractometerSimulator) -> Iterator[Served]:
    yield from _serve(xrd_sim)


@pytest.fixture
def xrd(xrd_link: Served, traffic: list[dict], clock: SimulatedClock) -> Iterator[Diffractometer]:
    driver = Diffractometer(_transport(xrd_link, traffic, clock), name="xrd")
    yield driver
    driver.close()


def fake_spectrum(sample_id: str, wavelength_nm: np.ndarray) -> np.ndarray:
    """A deterministic absorption edge per sample: the edge wavelength (nm) is drawn from the id."""
    edge = 350.0 + zlib.crc32(sample_id.encode()) % 100
    return 1.0 / (1.0 + np.exp((np.asarray(wavelength_nm) - edge) / 8.0))


@pytest.fixture
def uvvis_sim(clock: SimulatedClock) -> SpectrometerSimulator:
    return SpectrometerSimulator("uvvis", clock, fake_spectrum, FaultPlan(late_s=LATE_S))


@pytest.fixture
def uvvis_link(uvvis_sim: SpectrometerSimulator) -> Iterator[Served]:
    yield from _serve(uvvis_sim)


@pytest.fixture
def uvvis(uvvis_link: Served, traffic: list[dict], clock: SimulatedClock) -> Iterator[UvVisSpectrometer]:
    driver = UvVisSpectrometer(_transport(uvvis_link, traffic, clock), name="uvvis")
    yield driver
    driver.close()
