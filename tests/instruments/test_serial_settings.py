"""Serial line settings: their checks and timings, line endings on the wire, common commands."""

from __future__ import annotations

import pytest

from instruments.furnace import BoxFurnace
from instruments.registry import open_instrument
from instruments.serial_settings import SerialSettings, serial_problems, serial_settings
from instruments.transport import SerialTransport
from simulators.serve import Served


@pytest.mark.parametrize(("settings", "bits"), [
    (SerialSettings(), 10.0), (SerialSettings(parity="E"), 11.0), (SerialSettings(stopbits=2), 11.0),
    (SerialSettings(parity="O", stopbits=1.5), 11.5),
])
def test_bits_per_byte_count_start_parity_and_stop_bits(settings: SerialSettings, bits: float) -> None:
    assert settings.bits_per_byte == bits


def test_block_timeout_scales_with_length_and_line_speed() -> None:
    slow, fast = SerialSettings(baudrate=9600, timeout_s=2.0), SerialSettings(baudrate=115200, timeout_s=2.0)
    assert slow.transfer_s(56_016) == pytest.approx(58.35, abs=0.01)
    assert slow.block_timeout_s(56_016) == pytest.approx(2.0 + 2 * 58.35, abs=0.02)
    assert fast.block_timeout_s(56_016) == pytest.approx(2.0 + 2 * 56_016 * 10 / 115200)
    assert SerialSettings(baudrate=9600, parity="E").transfer_s(960) == pytest.approx(1.1)


@pytest.mark.parametrize(("table", "field", "expected"), [
    ({"baudrate": "fast"}, "baudrate", "whole number of baud"),
    ({"baudrate": 9600.0}, "baudrate", "whole number of baud"),
    ({"parity": "even"}, "parity", "'N', 'E'"),
    ({"stopbits": 3}, "stopbits", "1, 1.5 or 2"),
    ({"line_ending": ";"}, "line_ending", '"\\n", "\\r\\n" or "\\r"'),
    ({"timeout_s": 0}, "timeout_s", "seconds > 0"),
    ({"block_timeout_margin": 0.5}, "block_timeout_margin", ">= 1"),
    ({"bytesize": 7}, "bytesize", "unknown field"),
])
def test_each_bad_field_is_named_with_what_was_expected(table: dict, field: str, expected: str) -> None:
    [(name, message)] = serial_problems(table)
    assert name == field and expected in message and ("got" in message or "unknown" in message)
    with pytest.raises(ValueError, match=f"serial.{field}:"):
        serial_settings(table)


def test_good_tables_build_settings_and_every_bad_field_is_listed() -> None:
    assert serial_settings({"baudrate": 115200, "stopbits": 2.0}) == SerialSettings(baudrate=115200, stopbits=2)
    assert [n for n, _ in serial_problems({"baudrate": 0, "parity": "X", "timeout_s": True})] == \
        ["baudrate", "parity", "timeout_s"]


def test_open_instrument_passes_the_settings_to_its_transport() -> None:
    driver = open_instrument("xrd", "/dev/ttyUSB7", "xrd-1", serial={"baudrate": 115200, "parity": "E",
                                                                     "timeout_s": 5.0})
    transport = driver.scpi.transport  # type: ignore[attr-defined]
    assert isinstance(transport, SerialTransport)
    assert (transport.settings.baudrate, transport.settings.parity, transport.timeout) == (115200, "E", 5.0)
    with pytest.raises(ValueError, match="serial.parity"):
        open_instrument("xrd", "/dev/ttyUSB7", "xrd-1", serial={"parity": "even"})


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_the_line_ending_goes_on_the_wire_and_lines_come_back_ending_in_newline(ending: str) -> None:
    with SerialTransport("loop://", settings=SerialSettings(line_ending=ending, timeout_s=0.2)) as loop:
        loop.write(b"*IDN?\n")  # the loop echoes what went on the wire
        assert loop.read_exact(5 + len(ending)) == b"*IDN?" + ending.encode()
        loop.write(b"*OPC?\n")
        assert loop.read_line() == b"*OPC?\n"


def test_a_crlf_line_talks_to_the_simulated_furnace(furnace_link: Served) -> None:
    settings = SerialSettings(line_ending="\r\n", timeout_s=0.5)
    with BoxFurnace(SerialTransport(furnace_link.url, settings=settings), name="furnace-1") as furnace:
        assert furnace.identify().startswith("LabSim,")


def test_drivers_speak_the_ieee_488_2_common_commands(furnace_link: Served) -> None:
    with BoxFurnace(SerialTransport(furnace_link.url, timeout=0.5), name="furnace-1") as furnace:
        assert furnace.event_status() == 128  # power on, then cleared by the read
        assert furnace.event_status() == 0
        assert furnace.self_test() == 0 and furnace.operation_complete() is True
        furnace.set_operation_complete()
        furnace.wait_to_continue()
        assert furnace.event_status() == 1
        assert furnace.event_status_enable(32) == 32 and furnace.service_request_enable(32) == 32
        assert furnace.status_byte() == 0
        furnace.reset()
        furnace.clear_status()
        with pytest.raises(ValueError, match="0..255"):
            furnace.event_status_enable(300)
