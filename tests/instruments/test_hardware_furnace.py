"""Talks to a real box furnace: skipped unless LAB_HARDWARE=1 (see conftest.py).

Run with, for example::

    LAB_HARDWARE=1 LAB_FURNACE_PORT=/dev/ttyUSB0 pytest -m hardware tests/instruments

Only read-only commands are sent: the furnace is never heated by a test.
"""

from __future__ import annotations

import os

import pytest

from instruments.furnace import BoxFurnace
from instruments.protocol import STATES
from instruments.transport import SerialTransport


@pytest.mark.hardware
def test_real_furnace_identifies_and_reports_status():
    port = os.environ.get("LAB_FURNACE_PORT")
    if not port:
        pytest.fail("LAB_HARDWARE=1 needs LAB_FURNACE_PORT, e.g. /dev/ttyUSB0 or socket://10.0.0.5:4001")
    baud = int(os.environ.get("LAB_FURNACE_BAUD", "9600"))
    with BoxFurnace(SerialTransport(port, baudrate=baud, timeout=2.0), name="furnace-hw") as furnace:
        assert furnace.identify()
        assert furnace.status().state in STATES
        assert isinstance(furnace.errors(), list)
