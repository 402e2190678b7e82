"""Admission at `lab queue`: a campaign the lab would refuse is refused before anything is stored.

Real specs (``specs/*.toml`` beside this file) go through the real command line; each problem is
one line naming the spec field, what it allows and the instrument's refusal, with exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import db
from flows.campaign.admission import admission_problems, composition_vertices, extreme_points
from flows.campaign.lab_limits import lab_file_limits, simulated_lab_limits
from flows.campaign.runtime import simulated_rig
from flows.cli.app import app
from flows.cli.errors import user_lines
from flows.errors import CampaignRefused
from instruments.dosing import DosingLimits
from instruments.furnace import FurnaceLimits
from lab.errors import SpecError
from lab.search_space import CompositionParameter
from lab.spec import EXAMPLES_DIR, example_path, load_spec, parse_spec

runner = CliRunner()
SPECS = Path(__file__).parent / "specs"
GOOD = example_path("batio3").read_text(encoding="utf-8")
SIM = "(simulated lab)"
FURNACES = "furnace-1, furnace-2, furnace-3, furnace-4"


def stored(url: str) -> list[db.CampaignInfo]:
    store = db.open_store(url)
    with store.session() as s:
        out = db.list_campaigns(s)
    store.dispose()
    return out


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), output
    return [line.removeprefix("error: ") for line in lines]


REFUSED = {
    "srtio3": [
        "workflow.target_phase: 'SrTiO3' is not a phase the analysis can fit; expected one of BaTiO3, BaCO3, TiO2, "
        "Ba2TiO4, BaTiO3_hex",
        f"workflow.precursors: SrCO3 for Sr, TiO2 for Ti; the feeders hold BaCO3, TiO2; doser {SIM} would refuse: "
        "precursor='SrCO3' is not allowed; expected one of BaCO3, TiO2",
    ],
    "hot_furnace": [
        f"workflow.temperature: parameter 'temperature_c' spans 1500.0..2000.0 °C; {FURNACES} {SIM} would refuse: "
        "temperature_c=1500.0 °C is outside the allowed range 100.0..1400.0 °C; "
        "temperature_c=2000.0 °C is outside the allowed range 100.0..1400.0 °C",
        f"workflow.dwell: parameter 'dwell_h' spans 1.0..30.0 h; {FURNACES} {SIM} would refuse: "
        "dwell_h=30.0 h is outside the allowed range 0.5..24.0 h",
        f"workflow.atmosphere: parameter 'atmosphere' chooses among air, vacuum; {FURNACES} {SIM} would refuse: "
        "atmosphere='vacuum' is not allowed; expected one of air, O2, N2, Ar",
    ],
    "categorical_temperature": [
        "workflow.temperature: parameter 'programme' is categorical; expected a continuous or integer parameter "
        "(the anneal temperature in °C)",
    ],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_lab_queue_refuses_what_the_lab_would_refuse_one_line_each_and_stores_nothing(name: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    spec = SPECS / f"{name}.toml"
    result = runner.invoke(app, ["queue", str(spec), "--db", url])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [f"{spec}: {line}" for line in REFUSED[name]]
    assert stored(url) == []


def test_lab_run_refuses_before_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    result = runner.invoke(app, ["run", str(SPECS / "hot_furnace.toml"), "--db", url])
    assert result.exit_code == 2 and len(error_lines(result.output)) == 3
    assert stored(url) == []


@pytest.mark.parametrize("path", sorted(EXAMPLES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_example_is_admitted(path: Path, tmp_path: Path) -> None:
    spec = load_spec(path)
    assert admission_problems(spec, simulated_lab_limits(spec)) == []
    assert admission_problems(spec, lab_file_limits(lab_file(tmp_path, spec_lab(spec)))) == []


def spec_lab(spec) -> str:
    """A lab file with exactly the spec's instruments, on ports that do not exist (nothing opens them)."""
    entries = [f'[[instrument]]\nname = "{n}"\nkind = "{k.value}"\nport = "/dev/does-not-exist-{n}"\n'
               for k, names in spec.instruments.by_kind().items() for n in names]
    return "\n".join(entries)


def lab_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_queue_on_a_lab_file_names_missing_instruments_and_each_instruments_limits(tmp_path: Path) -> None:
    text = spec_lab(load_spec(example_path("batio3")))
    text = text.replace('port = "/dev/does-not-exist-doser"', 'port = "/dev/does-not-exist-doser"\nlimits = { max_mg = 500 }')
    text = text.replace('port = "/dev/does-not-exist-furnace-1"',
                        'port = "/dev/does-not-exist-furnace-1"\nlimits = { max_temperature_c = 1200 }')
    text = text.replace('port = "/dev/does-not-exist-xrd"', 'port = "/dev/does-not-exist-xrd"\nlimits = { max_two_theta = 70.0 }')
    text = text.split('[[instrument]]\nname = "furnace-4"')[0] + text.split('/dev/does-not-exist-furnace-4"\n')[1]
    path = lab_file(tmp_path, text)
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    spec = tmp_path / "batio3.toml"
    spec.write_text(GOOD.replace('name = "rl"', 'name = "sobol"'), encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", url, "--lab-file", str(path)])
    assert result.exit_code == 2, result.output
    lab = f"(lab file {path})"
    lines = error_lines(result.output)
    assert lines[0] == (f"{spec}: instruments.furnaces: 'furnace-4' is not in lab file {path} "
                        "(its furnace instruments: furnace-1, furnace-2, furnace-3)")
    assert lines[1] == (f"{spec}: workflow.two_theta = [10.0, 80.0, 0.02] (start, stop, step in degrees); xrd {lab} would "
                        "refuse: stop_deg=80.0 degrees is outside the allowed range 5.0..70.0 degrees")
    assert lines[2].startswith(f"{spec}: workflow.batch_mg = 1000.0 mg at the extreme fractions of parameter 'cations'; "
                               f"doser {lab} would refuse: masses_mg['BaCO3']=")
    assert "is outside the allowed range 1.0..500.0 mg" in lines[2]
    assert lines[3] == (f"{spec}: workflow.temperature: parameter 'temperature_c' spans 700.0..1350.0 °C; furnace-1 {lab} "
                        "would refuse: temperature_c=1350.0 °C is outside the allowed range 100.0..1200.0 °C")
    assert len(lines) == 4 and stored(url) == []
    fixed = path.read_text(encoding="utf-8").replace("limits = { max_mg = 500 }\n", "").replace(
        "limits = { max_temperature_c = 1200 }\n", "").replace("limits = { max_two_theta = 70.0 }\n", "")
    path.write_text(fixed + '\n[[instrument]]\nname = "furnace-4"\nkind = "furnace"\nport = "/dev/nowhere"\n', encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", url, "--lab-file", str(path)])
    assert result.exit_code == 0, result.output
    assert len(stored(url)) == 1


@pytest.mark.parametrize(("edit", "line"), [
    (("ramp_c_per_min = 5.0", "ramp_c_per_min = 20.0"),
     f"workflow.ramp_c_per_min = 20.0 °C/min; {FURNACES} {SIM} would refuse: ramp_c_per_min=20.0 °C/min is outside "
     "the allowed range 0.5..10.0 °C/min"),
    (("ramp_c_per_min = 5.0", "ramp_c_per_min = 5.0\ntwo_theta = [2.0, 80.0, 0.02]"),
     f"workflow.two_theta = [2.0, 80.0, 0.02] (start, stop, step in degrees); xrd {SIM} would refuse: start_deg=2.0 "
     "degrees is outside the allowed range 5.0..120.0 degrees"),
    (("Ba = [0.35, 0.65], Ti = [0.35, 0.65]", "Ba = [0.0, 1.0], Ti = [0.0, 1.0]"),
     f"workflow.batch_mg = 1000.0 mg at the extreme fractions of parameter 'cations'; doser {SIM} would refuse: "
     "masses_mg['TiO2']=0.0 mg is outside the allowed range 1.0..5000.0 mg; "
     "masses_mg['BaCO3']=0.0 mg is outside the allowed range 1.0..5000.0 mg"),
    (("batch_mg = 1000.0", "batch_mg = 9000.0"),
     f"workflow.batch_mg = 9000.0 mg at the extreme fractions of parameter 'cations'; doser {SIM} would refuse: "
     "masses_mg['BaCO3']="),
    (("high = 8", "high = 25"),
     f"workflow.dwell: parameter 'dwell_h' spans 1..25 h; {FURNACES} {SIM} would refuse: dwell_h=25.0 h is outside the "
     "allowed range 0.5..24.0 h"),
    (('target_phase = "BaTiO3"', 'target_phase = "BaZrO3"'),
     "workflow.target_phase: 'BaZrO3' is not a phase the analysis can fit; expected one of BaTiO3, BaCO3, TiO2, "
     "Ba2TiO4, BaTiO3_hex"),
])
def test_each_limit_of_the_simulated_lab_is_checked_at_the_extremes(edit: tuple[str, str], line: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    spec = parse_spec(text)
    (problem,) = admission_problems(spec, simulated_lab_limits(spec))
    assert problem.startswith(line), problem


def test_the_vials_total_mass_limit_comes_from_the_lab_file(tmp_path: Path) -> None:
    spec = load_spec(example_path("batio3"))
    text = spec_lab(spec).replace('port = "/dev/does-not-exist-doser"',
                                  'port = "/dev/does-not-exist-doser"\nlimits = { max_total_mg = 800 }')
    (problem,) = admission_problems(spec, lab_file_limits(lab_file(tmp_path, text)))
    assert problem.startswith("workflow.batch_mg = 1000.0 mg") and "above the vial's limit of 800.0 mg" in problem


def test_every_problem_is_found_in_one_pass_and_printed_one_per_line() -> None:
    text = (GOOD.replace("ramp_c_per_min = 5.0", "ramp_c_per_min = 20.0\ntwo_theta = [2.0, 80.0, 0.02]")
            .replace('target_phase = "BaTiO3"', 'target_phase = "BaZrO3"').replace("high = 1350.0", "high = 1450.0")
            .replace('choices = ["air", "O2", "N2"]', 'choices = ["air", "H2", "vacuum"]'))
    spec = parse_spec(text)
    problems = admission_problems(spec, simulated_lab_limits(spec))
    fields = [p.split(":")[0].split(" ")[0] for p in problems]
    assert fields == ["workflow.target_phase", "workflow.ramp_c_per_min", "workflow.two_theta", "workflow.temperature",
                      "workflow.atmosphere"]
    assert "atmosphere='H2' is not allowed" in problems[4] and "atmosphere='vacuum' is not allowed" in problems[4]
    error = CampaignRefused("spec.toml", problems)
    assert user_lines(RuntimeError("wrapped")) is None
    assert user_lines(error) == [f"spec.toml: {p}" for p in problems]


def test_a_bad_limits_table_in_the_lab_file_is_one_line_each(tmp_path: Path) -> None:
    text = ('[[instrument]]\nname = "furnace-1"\nkind = "furnace"\nport = "/dev/x"\nlimits = { max_temp = 900 }\n'
            '[[instrument]]\nname = "doser"\nkind = "dosing"\nport = "/dev/y"\nlimits = { precursors = "BaCO3" }\n'
            '[[instrument]]\nname = "doser"\nkind = "dosing"\nport = "/dev/z"\n')
    with pytest.raises(SpecError) as info:
        lab_file_limits(lab_file(tmp_path, text))
    problems = info.value.problems
    assert problems[0].startswith("instrument[0].limits: unknown furnace limit(s) max_temp; expected some of")
    assert problems[1].startswith("instrument[1].limits: dosing limit precursors='BaCO3': expected a list of names")
    assert problems[2] == "instrument[2].name: 'doser' is listed twice"


def test_the_simulated_rig_opens_its_drivers_with_the_limits_admission_reads() -> None:
    spec = load_spec(example_path("batio3"))
    limits = simulated_lab_limits(spec).instruments
    assert limits["doser"][1] == DosingLimits() and limits["furnace-3"][1] == FurnaceLimits()
    with simulated_rig(spec) as rig:
        assert {name: d.limits for name, d in rig.instruments.items()} == {n: lim for n, (_, lim) in limits.items()}


def test_extremes_cover_every_vertex_of_a_composition_and_every_choice() -> None:
    p = CompositionParameter("c", (("Ba", 0.2, 0.6), ("Sr", 0.0, 0.3), ("Ti", 0.4, 0.5)))
    vertices = composition_vertices(p)
    assert {tuple(round(v[e], 9) for e in p.elements) for v in vertices} == {
        (0.6, 0.0, 0.4), (0.5, 0.0, 0.5), (0.3, 0.3, 0.4), (0.2, 0.3, 0.5)}
    for v in vertices:
        p.check(v)
    points = extreme_points(load_spec(example_path("batio3")))
    assert {params["atmosphere"] for roles, params in points if roles == {"atmosphere"}} == {"air", "O2", "N2"}
    assert {params["dwell_h"] for roles, params in points if roles == {"dwell"}} == {1, 8}
