"""A lab file's every field is checked, all problems at once, each naming the lab file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.campaign.lab_file import load_lab_file
from lab.errors import SpecError

BASE = '[[instrument]]\nname = "f"\nkind = "furnace"\nport = "/dev/x"\n'


@pytest.mark.parametrize(("text", "expected"), [
    ("instrument = [1, 2]\n", ["instrument[0]: expected a table", "instrument[1]: expected a table"]),
    (BASE + "limits = 5\n", ["instrument[0].limits: expected a table"]),
    ("limits = 5\n" + BASE, ["limits: unknown table or field"]),
    (BASE + 'limits = { max_temperature_c = "hot" }\n', ["instrument[0].limits: furnace limit max_temperature_c='hot'"]),
    (BASE + "limits = { max_temperature_c = nan }\n", ["instrument[0].limits.max_temperature_c: expected a finite number"]),
    (BASE + 'serial = 3\n', ["instrument[0].serial: expected a table"]),
    (BASE + "name2 = 1\n", ["instrument[0].name2: unknown field"]),
    (BASE.replace('"f"', "7"), ["instrument[0].name: expected non-empty text"]),
    (BASE + BASE, ["instrument[1].name: 'f' is listed twice"]),
    ("clock = 3\n" + BASE, ["clock: expected a table"]),
    ('[clock]\nspeed = "x"\norigin = "noon"\n' + BASE,
     ["clock.wall_origin: required", "clock.speed: expected", "clock.origin: expected an ISO time"]),
    ("faults = 1\n" + BASE, ["faults: expected a table"]),
    ("[[instrument]\n", ["not valid TOML"]),
])
def test_every_bad_field_is_one_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_lab_file(path)
    assert info.value.what == "lab file" and "not a valid lab file" in str(info.value)
    assert len(info.value.problems) == len(expected), info.value.problems
    for want in expected:
        assert any(p.startswith(want) for p in info.value.problems), (want, info.value.problems)


def test_binary_lab_file_says_lab_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(SpecError) as info:
        load_lab_file(path)
    assert info.value.what == "lab file" and "binary" in info.value.problems[0]
