"""A lab file's per-instrument ``serial`` table: checked line by line, passed to each driver's transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.campaign.runtime import hardware_rig, load_lab_file
from instruments.transport import SerialTransport
from lab.errors import SpecError

ENTRY = '[[instrument]]\nname = "{name}"\nkind = "xrd"\nport = "/dev/ttyUSB-{name}"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_instrument_gets_its_own_serial_settings(tmp_path: Path) -> None:
    text = (ENTRY.format(name="xrd-1") + 'serial = { baudrate = 115200, parity = "E", line_ending = "\\r\\n", '
            "timeout_s = 3.0, block_timeout_margin = 1.5 }\n" + ENTRY.format(name="xrd-2"))
    with hardware_rig(write(tmp_path, text)) as rig:  # ports open on the first command: none here
        first = rig.instruments["xrd-1"].scpi.transport  # type: ignore[attr-defined]
        second = rig.instruments["xrd-2"].scpi.transport  # type: ignore[attr-defined]
    assert isinstance(first, SerialTransport) and isinstance(second, SerialTransport)
    s = first.settings
    assert (s.baudrate, s.parity, s.line_ending, s.timeout_s, s.block_timeout_margin) == (115200, "E", "\r\n", 3.0, 1.5)
    assert second.settings.baudrate == 9600 and second.settings.timeout_s == 2.0


def test_bad_serial_fields_are_one_line_each_naming_the_instrument(tmp_path: Path) -> None:
    text = ENTRY.format(name="xrd-1") + 'serial = { baudrate = "fast", parity = "even", stop_bits = 2 }\n'
    with pytest.raises(SpecError) as info:
        load_lab_file(write(tmp_path, text))
    lines = [p for p in info.value.problems if ".serial" in p]
    assert len(lines) == 3 and all(p.startswith("instrument[0]") for p in lines), info.value.problems
    assert any("serial.baudrate" in p and "whole number of baud" in p for p in lines)
    assert any("serial.parity" in p and "'N', 'E'" in p for p in lines)
    assert any("serial.stop_bits" in p and "unknown field" in p for p in lines)
    assert str(tmp_path / "lab.toml") in str(info.value)
