"""The SCPI client against scripted byte exchanges (a ReplayTransport as the fake device)."""

from __future__ import annotations

import pytest

from instruments.errors import (
    CommandError,
    DeviceLimitError,
    GarbledReply,
    InstrumentTimeout,
)
from instruments.recording import ReplayTransport
from instruments.scpi import ScpiClient, parse_error_reply


def script(*steps: tuple[str, str]) -> ScpiClient:
    """A client whose device answers exactly ``steps`` of (dir, data)."""
    events = [{"dir": d, "data": data} for d, data in steps]
    return ScpiClient(ReplayTransport(events), name="dev", resync_s=0.5)


def test_query_and_write():
    client = script(("write", "A?\n"), ("read_line", "42\r\n"), ("write", "B 1\n"), ("read_line", "OK\n"))
    assert client.query("A?") == "42"
    client.write("B 1")


def test_error_replies_become_typed_device_errors():
    client = script(("write", "T 9999\n"), ("read_line", 'ERR -222,"Data out of range: T 9999"\n'),
                    ("write", "X\n"), ("read_line", 'ERR -113,"Undefined header X"\n'))
    with pytest.raises(DeviceLimitError) as info:
        client.write("T 9999")
    assert (info.value.code, info.value.message) == (-222, "Data out of range: T 9999")
    with pytest.raises(CommandError, match="-113"):
        client.write("X")


def test_write_insists_on_ok():
    client = script(("write", "B 1\n"), ("read_line", "1\n"))
    with pytest.raises(GarbledReply, match="expected OK"):
        client.write("B 1")


def test_definite_length_block():
    client = script(("write", "D?\n"), ("read_exact", "#"), ("read_exact", "2"), ("read_exact", "11"),
                    ("read_exact", "hello\nworld"), ("read_line", "\n"))
    assert client.query_block("D?") == b"hello\nworld"


@pytest.mark.parametrize(("steps", "message"), [
    ([("read_exact", "#"), ("read_exact", "0")], "indefinite blocks are not supported"),
    ([("read_exact", "#"), ("read_exact", "2"), ("read_exact", "x1")], "is not a number"),
    ([("read_exact", "#"), ("read_exact", "1"), ("read_exact", "2"), ("read_exact", "ab"), ("read_line", "c\n")],
     "not followed by a newline"),
    ([("read_exact", "O"), ("read_line", "K\n")], "expected a #<n><len> block"),
    ([("read_exact", "\n")], "expected a #<n><len> block"),
])
def test_malformed_blocks_are_garbled(steps, message):
    client = script(("write", "D?\n"), *steps)
    with pytest.raises(GarbledReply, match=message):
        client.query_block("D?")


def test_error_instead_of_block():
    client = script(("write", "D?\n"), ("read_exact", "E"), ("read_line", 'RR 203,"Not finished"\n'))
    with pytest.raises(Exception, match="203: Not finished"):
        client.query_block("D?")


def test_resync_discards_stale_replies_after_a_timeout():
    client = ScpiClient(ReplayTransport([
        {"dir": "write", "data": "A?\n"},
        {"dir": "error", "op": "read_line", "type": "InstrumentTimeout", "message": "late"},
        {"dir": "write", "data": "SYST:SYNC? 1\n"},
        {"dir": "read_line", "data": "stale answer to A?\n"},
        {"dir": "read_line", "data": "SYNC 1\n"},
        {"dir": "write", "data": "B?\n"},
        {"dir": "read_line", "data": "fresh\n"},
    ]), name="dev")
    with pytest.raises(InstrumentTimeout):
        client.query("A?")
    assert client.query("B?") == "fresh"


def test_resync_gives_up_after_its_budget():
    client = ScpiClient(ReplayTransport([
        {"dir": "write", "data": "A?\n"},
        {"dir": "read_line", "data": "\xff\n"},
        {"dir": "write", "data": "SYST:SYNC? 1\n"},
        *[{"dir": "error", "op": "read_line", "type": "InstrumentTimeout", "message": "silent"}] * 50,
    ]), name="dev", resync_s=0.0)
    with pytest.raises(GarbledReply, match="not ASCII"):
        client.query("A?")
    with pytest.raises(InstrumentTimeout, match="resynchronisation"):
        client.query("B?")


def test_commands_are_single_ascii_lines():
    client = script()
    with pytest.raises(ValueError, match="line break"):
        client.query("A?\nB?")
    with pytest.raises(ValueError, match="ASCII"):
        client.query("TEMP 900°")


def test_parse_error_reply():
    assert parse_error_reply('0,"No error"') == (0, "No error")
    assert parse_error_reply('ERR 201,"Busy: holds job k"') == (201, "Busy: holds job k")
    with pytest.raises(GarbledReply, match="expected an error reply"):
        parse_error_reply("nonsense")
