"""IEEE 488.2 common commands, SCPI long forms, compound lines and error lengths on the simulators."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.scpi import MAX_ERROR_CHARS, parse_error_reply
from lab.clock import SimulatedClock
from simulators.diffractometer import DiffractometerSimulator
from simulators.ieee488 import normalize_header, split_units

GRID = 10.0 + 0.02 * np.arange(3501)


def xrd() -> DiffractometerSimulator:
    return DiffractometerSimulator("xrd-1", SimulatedClock(), lambda s: (GRID, np.ones(GRID.size)))


def reply_bytes(sim: DiffractometerSimulator, line: str) -> bytes:
    payload = sim.process(line.encode("ascii")).payload
    assert payload is not None
    return payload


def reply(sim: DiffractometerSimulator, line: str) -> str:
    return reply_bytes(sim, line).decode("ascii").rstrip("\n")


@pytest.mark.parametrize(("line", "expected"), [
    ("*IDN?", "LabSim,PowderXRD-600,xrd-1,1.0"), ("*OPC?", "1"), ("*TST?", "0"), ("*WAI", "OK"),
    ("*OPC", "OK"), ("*CLS", "OK"), ("*RST", "OK"), ("*ESE 36", "OK"), ("*SRE 32", "OK"), ("*ESE?", "0"),
    ("*SRE?", "0"),
])
def test_every_mandatory_common_command_is_answered(line: str, expected: str) -> None:
    assert reply(xrd(), line) == expected


def test_event_status_register_records_errors_and_clears_on_read() -> None:
    sim = xrd()
    assert reply(sim, "*ESR?") == "128"  # power on
    assert reply(sim, "*ESR?") == "0"
    reply(sim, "SCAN:BOGUS")  # -113: command error
    reply(sim, "SCAN:STAR 999")  # -222: execution error
    assert reply(sim, "*ESR?") == str(32 | 16)
    reply(sim, "*OPC")
    assert reply(sim, "*ESR?") == "1"


def test_status_byte_reports_the_error_queue_and_enabled_events() -> None:
    sim = xrd()
    reply(sim, "*CLS")
    assert reply(sim, "*STB?") == "0"
    assert reply(sim, "*ESE 32") == "OK" and reply(sim, "*SRE 32") == "OK"
    reply(sim, "NOPE")
    assert reply(sim, "*STB?") == str(4 | 32 | 64)
    assert reply(sim, "*ESE?") == "32" and reply(sim, "*SRE?") == "32"
    assert reply(sim, "*CLS") == "OK" and reply(sim, "*STB?") == "0"


@pytest.mark.parametrize("line", ["*ESE 256", "*ESE x", "*SRE", "*OPC? 1"])
def test_bad_common_command_arguments_are_refused(line: str) -> None:
    assert reply(xrd(), line).startswith("ERR -")


def test_reset_restores_the_staged_settings_but_keeps_the_jobs() -> None:
    sim = xrd()
    assert reply(sim, 'SCAN:STAR 20;STOP 30;:SCAN:RUN "k","S"') == "OK"
    assert reply(sim, "*RST") == "OK"
    assert sim.settings["start_deg"] == 10.0 and sim.settings["stop_deg"] == 80.0
    assert reply(sim, 'SCAN:JOB? "k"').split(",")[5:7] == ["20.0", "30.0"]


@pytest.mark.parametrize("line", ["SYSTem:ERRor?", "system:error?", ":SYST:ERR?", "Syst:Err?"])
def test_long_and_short_forms_match_in_any_case(line: str) -> None:
    assert reply(xrd(), line) == '0,"No error"'


def test_a_mnemonic_that_is_neither_form_is_undefined() -> None:
    assert reply(xrd(), "SYSTE:ERR?").startswith("ERR -113")
    assert normalize_header("SCAN:START") == "SCAN:STAR" and normalize_header("scan:data?") == "SCAN:DATA?"


def test_compound_lines_run_in_order_under_the_previous_path() -> None:
    sim = xrd()
    assert reply(sim, "SCAN:STARt 20;STOP 40;STEP 0.05") == "OK"
    assert (sim.settings["start_deg"], sim.settings["stop_deg"], sim.settings["step_deg"]) == (20.0, 40.0, 0.05)
    assert reply(sim, "*CLS;*OPC?;SYST:ERR?") == '1;0,"No error"'
    assert split_units('DOSE:MASS "a;b",1;;*WAI') == ['DOSE:MASS "a;b",1', "*WAI"]


def test_a_failing_unit_stops_the_line_with_its_error() -> None:
    sim = xrd()
    assert reply(sim, "SCAN:STAR 20;STOP 999;STEP 0.05").startswith("ERR -222")
    assert sim.settings["start_deg"] == 20.0 and sim.settings["step_deg"] == 0.02


def test_a_block_query_must_stand_alone() -> None:
    sim = xrd()
    reply(sim, 'SCAN:RUN "k","S"')
    sim.clock.advance(4 * 3600)
    assert reply(sim, '*OPC?;SCAN:DATA? "k"').startswith("ERR -110")
    assert reply_bytes(sim, 'SCAN:DATA? "k"').startswith(b"#556016")  # 2 x 3501 float64


def test_error_strings_stay_within_255_characters() -> None:
    sim = xrd()
    sim.pattern_source = lambda s: (_ for _ in ()).throw(ValueError("x" * 400))  # a 425-character description
    reply(sim, 'SCAN:RUN "k","S"')
    sim.clock.advance(4 * 3600)
    refused = reply(sim, 'SCAN:DATA? "k"')
    code, message = parse_error_reply(refused)
    assert code == 501 and len(refused) - len("ERR ") <= MAX_ERROR_CHARS and message.endswith("...")
    queued = reply(sim, "SYST:ERR?")
    assert len(queued) <= MAX_ERROR_CHARS and queued.startswith('501,"No pattern for sample S')
    assert reply(sim, "SCAN:" + "X" * 300).startswith("ERR -113")
    assert len(reply(sim, "SYST:ERR?")) <= MAX_ERROR_CHARS
