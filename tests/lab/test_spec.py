"""Campaign specs: the shipped examples load; bad specs are refused naming field and reason, every
problem in one pass; workflow defaults, outcome constraints and the reward's sign convention."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import SpecError
from lab.reward import RewardDefinition, RewardTerm
from lab.spec import EXAMPLES_DIR, example_path, load_spec, parse_spec
from lab.state import CampaignState, Observation, OutcomeConstraint
from lab.workflow import WORKFLOW_DEFAULTS, plan_steps

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


def _without_atmosphere(text: str) -> str:
    out = text.replace('[[parameters]]\nname = "atmosphere"\ntype = "categorical"\nchoices = ["air", "O2", "N2"]\n', "")
    out = out.replace('atmosphere = "atmosphere"\n', "")
    assert out != text and 'name = "atmosphere"' not in out and "\natmosphere =" not in out
    return out


def test_a_spec_without_an_atmosphere_anneals_in_the_documented_default() -> None:
    spec = parse_spec(_without_atmosphere(GOOD))
    assert spec.search_space().names == ("cations", "temperature_c", "dwell_h")
    assert spec.workflow.atmosphere is None and spec.workflow.default_atmosphere == WORKFLOW_DEFAULTS["atmosphere"] == "air"
    params = {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 1000.0, "dwell_h": 2}
    anneal = plan_steps(params, spec.workflow)[1]
    assert anneal.command == {"temperature_c": 1000.0, "dwell_h": 2.0, "ramp_c_per_min": 5.0, "atmosphere": "air"}
    assert type(spec).from_store_dict(spec.to_store_dict()) == spec  # the resolved role survives the store


def test_naming_a_missing_atmosphere_parameter_is_still_refused() -> None:
    text = _without_atmosphere(GOOD).replace('dwell = "dwell_h"\n', 'dwell = "dwell_h"\natmosphere = "gas"\n')
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.problems == ["workflow.atmosphere: parameter 'gas' is not among the parameters "
                                   "['cations', 'temperature_c', 'dwell_h']"]


def test_structural_and_cross_field_problems_come_in_one_pass() -> None:
    text = (GOOD.replace("experiments = 24", "experiments = -3")             # a field's own check
            .replace('objective = "target_fraction"', 'objective = "yield"')  # reward term names no objective
            .replace('dwell = "dwell_h"', 'dwell = "atmosphere"')             # role of the wrong kind
            + '\n[[constraints]]\nobjective = "colour"\nmax = 1.0\n')          # constraint on no measured quantity
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="bad.toml")
    assert info.value.problems == [
        "budget.experiments: Input should be greater than 0",
        "reward.terms[0].objective: objective 'yield' is not one of the objectives ['target_fraction']",
        "constraints[0].objective: 'colour' is not measured by the solid_state workflow (it measures "
        "['target_fraction', 'impurity_fraction', 'unreacted_fraction', 'fit_residual'])",
        "workflow.dwell: parameter 'atmosphere' is categorical; expected a continuous or integer parameter "
        "(the dwell time in hours)",
    ]
    assert str(info.value).count("\n  - ") == 4  # one line each


def test_a_negative_weight_on_a_minimised_objective_is_refused_with_the_convention() -> None:
    text = GOOD.replace('[[objectives]]\nname = "target_fraction"\ndirection = "maximize"\n',
                        '[[objectives]]\nname = "target_fraction"\n\n[[objectives]]\nname = "impurity_fraction"\n')
    text = text.replace('terms = [{ objective = "target_fraction", weight = 1.0 }]',
                        'terms = [{ objective = "target_fraction", weight = 1.0 }, { objective = "impurity_fraction", weight = -0.5 }]')
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.problems == ["reward.terms[1].weight: weight -0.5 on impurity_fraction (minimised) would reward "
                                   "impurity_fraction; weights are importance: write 0.5, the sense comes from the objective"]
    spec = parse_spec(text.replace("weight = -0.5", "weight = 0.5"))
    assert [o.direction for o in spec.objective_list()] == ["maximize", "minimize"]  # each quantity's own sense
    reward = spec.reward_definition()
    directions = {o.name: o.direction for o in spec.objective_list()}
    assert reward.compute({"target_fraction": 0.8, "impurity_fraction": 0.2}, directions) == pytest.approx(0.7)


def test_stored_definitions_from_before_the_convention_keep_their_values() -> None:
    old = {"version": "v2", "terms": [{"objective": "target_fraction", "weight": 1.0},
                                      {"objective": "unreacted_fraction", "weight": -2.0}], "failure_reward": -0.5}
    legacy = RewardDefinition.from_dict(old)
    assert legacy.convention == "signed"
    values = {"target_fraction": 0.9, "unreacted_fraction": 0.1}
    assert legacy.compute(values, {"target_fraction": "maximize"}) == pytest.approx(0.7)  # as computed when stored
    assert RewardDefinition.from_dict(legacy.to_dict()) == legacy
    with pytest.raises(ValueError, match="weights are importance"):
        RewardDefinition("v3", (RewardTerm("unreacted_fraction", -2.0),))
    assert RewardDefinition("v3", (RewardTerm("target_fraction"), RewardTerm("unreacted_fraction", 2.0))).compute(
        values, {"target_fraction": "maximize"}) == pytest.approx(0.7)


@pytest.mark.parametrize(("table", "problem"), [
    ('objective = "impurity_fraction"\nmax = 0.05\nmin = 0.1\n', "constraints[0]: min (0.1) must be below max (0.05)"),
    ('objective = "impurity_fraction"\n', "constraints[0]: give min and/or max"),
    ('objective = "impurity_fraction"\nmax = nan\n', "constraints[0].max: expected a finite number"),
    ('objective = "impurity_fraction"\nmax = "low"\n', "constraints[0].max: Input should be a valid number"),
    ('objective = "impurity_fraction"\nbelow = 0.05\n', "constraints[0].below: unknown field"),
])
def test_a_bad_constraint_names_its_field(table: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(GOOD + "\n[[constraints]]\n" + table)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_constraints_reach_the_state_a_policy_sees() -> None:
    spec = parse_spec(GOOD + '\n[[constraints]]\nobjective = "impurity_fraction"\nmax = 0.05\n')
    (bound,) = spec.constraint_list()
    assert bound == OutcomeConstraint("impurity_fraction", None, 0.05)
    stored = spec.to_store_dict()
    assert stored["constraints"] == [{"objective": "impurity_fraction", "min": None, "max": 0.05}]
    state = CampaignState(spec.search_space(), spec.objective_list(), constraints=spec.constraint_list())
    assert CampaignState.from_dict(state.to_dict()) == state
    ok = Observation({}, {"target_fraction": 0.7, "impurity_fraction": 0.01}, 0.7)
    high = Observation({}, {"target_fraction": 0.9, "impurity_fraction": 0.08}, 0.9)
    state = CampaignState(spec.search_space(), spec.objective_list(), (ok, high), constraints=spec.constraint_list())
    assert state.feasible(ok) and not state.feasible(high)
    assert state.best() is ok  # the best so far counts only feasible experiments


def test_qlognehvi_needs_several_objectives_and_a_reference_point_per_objective() -> None:
    one = GOOD.replace('name = "rl"', 'name = "qlognehvi"')
    with pytest.raises(SpecError) as info:
        parse_spec(one)
    assert info.value.problems == ["policy.name: qlognehvi trades off several objectives; the spec has ['target_fraction']: "
                                   "add an objective or choose qlognei"]
    pareto = example_path("batio3_pareto").read_text(encoding="utf-8")
    assert parse_spec(pareto).policy.name == "qlognehvi"
    with pytest.raises(SpecError) as info:
        parse_spec(pareto.replace("options = { pool_size = 512 }", "options = { ref_point = [0.0] }"))
    assert info.value.problems == ["policy.options.ref_point: 1 values for the 2 objectives ['target_fraction', "
                                   "'impurity_fraction'] (one each, in order)"]
