"""Lab files: instruments and clock read with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.campaign.runtime import load_lab_file
from lab.clock import ScaledClock, WallClock
from lab.errors import SpecError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_lab_file_gives_instruments_and_wall_clock(tmp_path: Path) -> None:
    entries, clock = load_lab_file(write(tmp_path, '[[instrument]]\nname = "furnace-1"\nkind = "furnace"\nport = "/dev/ttyUSB0"\n'))
    assert entries[0]["port"] == "/dev/ttyUSB0" and isinstance(clock, WallClock)


def test_clock_table_gives_a_scaled_clock(tmp_path: Path) -> None:
    text = ('[clock]\nspeed = 600.0\norigin = "2026-01-05T22:00:00+00:00"\nwall_origin = 1.0\n'
            '[[instrument]]\nname = "xrd"\nkind = "xrd"\nport = "socket://127.0.0.1:4001"\n')
    _, clock = load_lab_file(write(tmp_path, text))
    assert isinstance(clock, ScaledClock) and clock.speed == 600.0


@pytest.mark.parametrize(("text", "problem"), [
    ("", "instrument: expected one or more"),
    ('[[instrument]]\nname = "f"\nkind = "oven"\nport = "/dev/x"\n', "instrument[0].kind: 'oven' is not one of"),
    ('[[instrument]]\nname = "f"\nkind = "furnace"\n', "instrument[0].port: required"),
    ('[clock]\nspeed = -1\norigin = "2026-01-05T22:00:00+00:00"\nwall_origin = 1.0\n[[instrument]]\nname = "f"\nkind = "furnace"\nport = "/dev/x"\n', "clock.speed:"),
    ("[[instrument]\n", "not valid TOML"),
])
def test_bad_lab_file_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        load_lab_file(write(tmp_path, text))
    assert any(problem in p for p in info.value.problems), info.value.problems
