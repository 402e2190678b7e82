"""SerialTransport on a raw pseudo-terminal path, unreachable ports, and the driver registry."""

from __future__ import annotations

import socket

import pytest

from instruments.diffractometer import Diffractometer
from instruments.dosing import DosingStation
from instruments.errors import InstrumentConnectionError, InstrumentTimeout
from instruments.furnace import BoxFurnace
from instruments.recording import RecordingTransport, ReplayTransport
from instruments.registry import open_instrument
from instruments.transport import SerialTransport, Transport


def test_the_raw_slave_path_works_like_a_serial_port(furnace_link):
    assert furnace_link.tty.startswith("/dev/pts/")
    with SerialTransport(furnace_link.tty, timeout=0.5) as transport:
        transport.write(b"*IDN?\n")
        assert transport.read_line() == b"LabSim,BoxFurnace-1400,furnace-1,1.0\n"
        transport.write(b"*IDN?\n*IDN?\n")
        assert transport.read_exact(6) == b"LabSim"
        assert transport.read_line().endswith(b"1.0\n")
        assert transport.read_line().startswith(b"LabSim")
        with pytest.raises(InstrumentTimeout, match="no complete line"):
            transport.read_line()
        with pytest.raises(InstrumentTimeout, match="0 of 4 bytes"):
            transport.read_exact(4)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url", ["/dev/no-such-tty", "socket://127.0.0.1:{port}"])
def test_unreachable_ports_raise_connection_errors(url):
    transport = SerialTransport(url.format(port=_closed_port()), timeout=0.2)
    with pytest.raises(InstrumentConnectionError, match="opening"):
        transport.write(b"*IDN?\n")
    assert not transport.is_open


def test_reading_before_connecting_is_a_connection_error():
    with pytest.raises(InstrumentConnectionError, match="not connected"):
        SerialTransport("/dev/ttyUSB9").read_line()


@pytest.mark.parametrize(("kwargs", "message"), [({"url": ""}, "needs a port"),
                                                 ({"url": "/dev/x", "timeout": 0}, "timeout must be > 0")])
def test_transport_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SerialTransport(**kwargs)


def test_all_transports_satisfy_the_protocol(tmp_path):
    serial_transport = SerialTransport("/dev/ttyUSB0")
    assert isinstance(serial_transport, Transport)
    assert isinstance(RecordingTransport(serial_transport, tmp_path / "log.jsonl"), Transport)
    assert isinstance(ReplayTransport([]), Transport)


def test_open_instrument_builds_each_kind(furnace_link):
    furnace = open_instrument("furnace", furnace_link.url, "furnace-1", timeout=0.5, max_temperature_c=1200)
    assert isinstance(furnace, BoxFurnace) and furnace.limits.max_temperature_c == 1200
    assert furnace.name == "furnace-1" and furnace.identify().startswith("LabSim,BoxFurnace")
    furnace.close()
    assert isinstance(open_instrument("dosing", "/dev/x", "doser"), DosingStation)
    assert isinstance(open_instrument("xrd", "/dev/x", "xrd", max_points=5000), Diffractometer)


def test_open_instrument_rejects_unknown_kinds_and_limits():
    with pytest.raises(ValueError, match="unknown instrument kind 'oven'; expected one of furnace, dosing, xrd"):
        open_instrument("oven", "/dev/x", "oven-1")
    with pytest.raises(ValueError, match="unknown furnace limit.*max_temp"):
        open_instrument("furnace", "/dev/x", "furnace-1", max_temp=900)
