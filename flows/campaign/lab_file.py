"""Reading a lab file: its ``[[instrument]]`` tables, ``[clock]`` and ``[faults]``, every field checked.

A lab file (TOML, see :mod:`flows.campaign.runtime`) is read within the bounds of
:mod:`lab.toml_input` (1 MB, nesting 32, no NaN or infinity, integers within 64 bits) and then
checked field by field, all problems in one :class:`~lab.errors.SpecError` whose ``what`` is
``"lab file"``, one line each naming the field and what was expected::

    instrument[0]: expected a table with name, kind and port, got 1
    instrument[1].limits: furnace limit max_temperature_c='hot': expected a number, e.g. 1400.0

Nothing here opens a port; :func:`~flows.campaign.runtime.hardware_rig` opens what this returns.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lab.toml"
    >>> _ = path.write_text('[[instrument]]\\nname = "f"\\nkind = "oven"\\nport = "/dev/x"\\nlimits = 5\\n')
    >>> try:
    ...     load_lab_file(path)
    ... except SpecError as exc:
    ...     exc.what, exc.problems
    ('lab file', ["instrument[0].kind: 'oven' is not one of dosing, furnace, xrd, uvvis", 'instrument[0].limits: expected a table such as { max_temperature_c = 1200 }, got 5'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.campaign.fault_settings import parse_fault_table
from instruments.registry import make_limits
from instruments.serial_settings import serial_problems
from lab.clock import Clock, ScaledClock, WallClock
from lab.errors import SpecError
from lab.instrument_kind import InstrumentKind
from lab.toml_input import read_toml

__all__ = ["CLOCK_FIELDS", "INSTRUMENT_FIELDS", "LAB_FILE_FIELDS", "load_lab_file"]

#: The tables of a lab file.
LAB_FILE_FIELDS = ("instrument", "clock", "faults")
#: The fields of one ``[[instrument]]`` table (``limits`` and ``serial`` are optional).
INSTRUMENT_FIELDS = ("name", "kind", "port", "limits", "serial")
#: The fields of ``[clock]``, all required.
CLOCK_FIELDS = ("speed", "origin", "wall_origin")
_WHAT = "lab file"


def load_lab_file(path: str | Path) -> tuple[list[dict[str, Any]], Clock]:
    """The ``[[instrument]]`` entries of a lab file, every field checked, and its clock.

    The clock is the wall clock, or a :class:`~lab.clock.ScaledClock` when the file has a
    ``[clock]`` table (``speed``, ``origin``, ``wall_origin``), as ``lab simulate`` writes. A
    ``[faults]`` table (which only the simulators act on) is validated too.

    Raises:
        SpecError: (``what == "lab file"``) the file cannot be read or any field is wrong; lists every problem.
    """
    path = Path(path)
    data = read_toml(path, _WHAT)
    problems = [f"{k}: unknown table or field; expected some of {', '.join(LAB_FILE_FIELDS)}"
                for k in data if k not in LAB_FILE_FIELDS]
    entries = data.get("instrument")
    if not isinstance(entries, list) or not entries:
        problems.append("instrument: expected one or more [[instrument]] tables")
        entries = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        problems += _entry_problems(i, entry, seen)
    clock: Clock = WallClock()
    if "clock" in data:
        clock_or_problems = _clock(data["clock"])
        if isinstance(clock_or_problems, list):
            problems += clock_or_problems
        else:
            clock = clock_or_problems
    if "faults" in data:
        try:
            parse_fault_table(data["faults"], str(path))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(str(path), problems, _WHAT)
    return entries, clock


def _entry_problems(i: int, entry: object, seen: set[str]) -> list[str]:
    """What is wrong with ``[[instrument]]`` number ``i`` (names already listed are in ``seen``)."""
    where = f"instrument[{i}]"
    if not isinstance(entry, Mapping):
        return [f"{where}: expected a table with name, kind and port, got {_short(entry)}"]
    problems = [f"{where}.{k}: unknown field; expected some of {', '.join(INSTRUMENT_FIELDS)}"
                for k in entry if k not in INSTRUMENT_FIELDS]
    for key in ("name", "kind", "port"):
        if not isinstance(entry.get(key), str) or not entry.get(key):
            problems.append(f"{where}.{key}: required text field is missing" if key not in entry
                            else f"{where}.{key}: expected non-empty text in quotes, got {_short(entry[key])}")
    kinds = [k.value for k in InstrumentKind]
    kind = entry.get("kind")
    if isinstance(kind, str) and kind and kind not in kinds:
        problems.append(f"{where}.kind: {kind!r} is not one of {', '.join(kinds)}")
    name = entry.get("name")
    if isinstance(name, str):
        if name in seen:
            problems.append(f"{where}.name: {name!r} is listed twice")
        seen.add(name)
    limits = entry.get("limits", {})
    if not isinstance(limits, Mapping):
        problems.append(f"{where}.limits: expected a table such as {{ max_temperature_c = 1200 }}, got {_short(limits)}")
    elif kind in kinds:
        try:
            make_limits(kind, **limits)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}.limits: {exc}")
    serial = entry.get("serial", {})
    if not isinstance(serial, Mapping):
        problems.append(f"{where}.serial: expected a table such as {{ baudrate = 9600 }}, got {_short(serial)}")
    else:
        problems += [f"{where}.serial.{name}: {what}" for name, what in serial_problems(serial)]
    return problems


def _clock(table: object) -> ScaledClock | list[str]:
    """The clock of a ``[clock]`` table, or one line per bad field."""
    if not isinstance(table, Mapping):
        return [f"clock: expected a table with {', '.join(CLOCK_FIELDS)}, got {_short(table)}"]
    problems = [f"clock.{k}: unknown field; expected {', '.join(CLOCK_FIELDS)}" for k in table if k not in CLOCK_FIELDS]
    problems += [f"clock.{k}: required field is missing" for k in CLOCK_FIELDS if k not in table]
    speed: Any = table.get("speed")
    wall: Any = table.get("wall_origin")
    origin = table.get("origin")
    if "speed" in table and not (_number(speed) and speed > 0):
        problems.append(f"clock.speed: expected simulated seconds per real second (> 0), got {_short(speed)}")
    if "wall_origin" in table and not _number(wall):
        problems.append(f"clock.wall_origin: expected POSIX seconds (a number), got {_short(wall)}")
    when: datetime | None = origin if isinstance(origin, datetime) else None
    if isinstance(origin, str):
        try:
            when = datetime.fromisoformat(origin)
        except ValueError:
            when = None
    if "origin" in table and when is None:
        problems.append(f"clock.origin: expected an ISO time such as \"2026-01-05T22:00:00+00:00\", got {_short(origin)}")
    if problems or when is None:
        return problems
    try:
        return ScaledClock(float(speed), when, float(wall))
    except (ValueError, OverflowError) as exc:
        return [f"clock: {exc}"]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
