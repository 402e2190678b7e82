"""The one mapping of low-level failures and device codes, status records and limit messages."""

from __future__ import annotations

import pickle
import socket

import pytest
import serial

from instruments.errors import (
    CommandError,
    DeviceError,
    DeviceLimitError,
    GarbledReply,
    HardwareFault,
    InstrumentBusy,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
    JobAborted,
    JobAlreadyRun,
    LimitViolation,
    NotReady,
    UnknownJob,
    device_error,
    map_transport_error,
    translated,
)
from instruments.limits import check_choice, check_identifier, check_range
from instruments.protocol import InstrumentStatus


@pytest.mark.parametrize(("low", "typed", "builtin"), [
    (serial.SerialTimeoutException("write timeout"), InstrumentTimeout, TimeoutError),
    (socket.timeout("timed out"), InstrumentTimeout, TimeoutError),
    (serial.SerialException("device reports readiness to read but returned no data"),
     InstrumentConnectionError, ConnectionError),
    (OSError(5, "Input/output error"), InstrumentConnectionError, ConnectionError),
    (ConnectionResetError(104, "reset"), InstrumentConnectionError, ConnectionError),
    (UnicodeDecodeError("ascii", b"\xff", 0, 1, "ordinal not in range"), GarbledReply, ValueError),
])
def test_low_level_errors_map_to_typed_ones(low, typed, builtin):
    mapped = map_transport_error(low, "furnace-1: reading")
    assert type(mapped) is typed and isinstance(mapped, builtin) and isinstance(mapped, InstrumentError)
    assert "furnace-1: reading" in str(mapped)
    with pytest.raises(typed) as info:
        with translated("furnace-1: reading"):
            raise low
    assert info.value.__cause__ is low


def test_bugs_are_not_mapped():
    with pytest.raises(KeyError):
        with translated("x"):
            raise KeyError("a bug")


@pytest.mark.parametrize(("code", "typed"), [
    (-222, DeviceLimitError), (-113, CommandError), (-109, CommandError), (201, InstrumentBusy),
    (202, UnknownJob), (203, NotReady), (204, JobAlreadyRun), (205, JobAborted), (500, HardwareFault),
    (599, HardwareFault), (42, DeviceError),
])
def test_device_codes_map_to_typed_errors(code, typed):
    err = device_error(code, "message text")
    assert type(err) is typed and err.code == code and err.message == "message text"
    assert str(err) == f"device error {code}: message text"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is typed and copy.code == code


def test_status_validation_and_round_trip():
    status = InstrumentStatus("busy", "S-1", "job-1", 12.5, {"phase": "ramping", "temperature_c": 400.0})
    assert status.holds_job
    assert InstrumentStatus.from_dict(status.to_dict()) == status
    assert InstrumentStatus.from_dict({"state": "idle"}) == InstrumentStatus("idle")
    with pytest.raises(ValueError, match="'sleeping' is not one of idle, busy"):
        InstrumentStatus("sleeping")


def test_limit_messages_name_parameter_value_and_range():
    with pytest.raises(LimitViolation, match=r"^temperature_c=1500 °C is outside the allowed range 25..1400 °C$"):
        check_range("temperature_c", 1500, 25, 1400, "°C")
    with pytest.raises(LimitViolation, match="is not a number"):
        check_range("dwell_h", None, 0.5, 24, "h")  # type: ignore[arg-type]
    with pytest.raises(LimitViolation, match="expected one of air, N2"):
        check_choice("atmosphere", "H2", ("air", "N2"))
    assert check_identifier("job_key", "c1/e12/anneal:2") == "c1/e12/anneal:2"
