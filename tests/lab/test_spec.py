"""Campaign specs: the shipped examples load; bad specs are refused naming field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import SpecError
from lab.spec import EXAMPLES_DIR, example_path, load_spec, parse_spec

GOOD = example_path("batio3").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(EXAMPLES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_example_is_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.search_space().dim > 0
    assert spec.reward_definition().terms


@pytest.mark.parametrize(
    ("edit", "field", "reason"),
    [
        (lambda t: t.replace('name = "BaTiO3 from BaCO3 + TiO2"\n', ""), "name", "required field is missing"),
        (lambda t: t.replace("Ba = [0.35", "Xx = [0.35"), "parameters[0].elements", "unknown element 'Xx'"),
        (lambda t: t.replace("[0.35, 0.65], Ti = [0.35, 0.65]", "[0.1, 0.2], Ti = [0.1, 0.3]"), "parameters[0]",
         "no composition satisfies the bounds"),
        (lambda t: t.replace("experiments = 24", "experiments = -3"), "budget.experiments", "greater than 0"),
        (lambda t: t.replace("low = 700.0", "low = 1400.0"), "parameters[1]", "below high"),
        (lambda t: t.replace('direction = "maximize"', 'direction = "up"'), "objectives[0].direction", "'maximize' or 'minimize'"),
        (lambda t: t.replace("batch_size = 4", "batchsize = 4"), "batchsize", "unknown field"),
        (lambda t: t.replace('objective = "target_fraction"', 'objective = "yield"'), "reward.terms", "not one of the objectives"),
        (lambda t: t.replace('Ti = "TiO2"', 'Ti = "BaCO3"'), "workflow.precursors", "does not contain Ti"),
    ],
)
def test_bad_spec_names_the_field_and_why(edit, field: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(edit(GOOD), source="bad.toml")
    text = str(info.value)
    assert text.startswith("bad.toml is not a valid campaign spec")
    assert any(p.startswith(field) and reason in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(("edit", "line"), [
    (('temperature = "temperature_c"', 'temperature = "atmosphere"'),
     "workflow.temperature: parameter 'atmosphere' is categorical; expected a continuous or integer parameter "
     "(the anneal temperature in °C)"),
    (('dwell = "dwell_h"', 'dwell = "atmosphere"'),
     "workflow.dwell: parameter 'atmosphere' is categorical; expected a continuous or integer parameter "
     "(the dwell time in hours)"),
    (('dwell = "dwell_h"', 'dwell = "cations"'),
     "workflow.dwell: parameter 'cations' is composition; expected a continuous or integer parameter "
     "(the dwell time in hours)"),
    (('atmosphere = "atmosphere"\n', 'atmosphere = "temperature_c"\n'),
     "workflow.atmosphere: parameter 'temperature_c' is continuous; expected a categorical parameter "
     "(names of furnace gases)"),
])
def test_a_workflow_role_naming_a_parameter_of_the_wrong_kind_is_one_line(edit: tuple[str, str], line: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="bad.toml")
    assert info.value.problems == [line]


def test_toml_syntax_error_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("name = [unclosed", source="x.toml")


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")


def test_store_round_trip_keeps_the_spec() -> None:
    spec = parse_spec(GOOD)
    data = spec.to_store_dict()
    assert data["space"] == spec.search_space().to_dict()
    assert type(spec).from_store_dict(data) == spec
