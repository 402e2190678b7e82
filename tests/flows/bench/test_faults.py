"""`lab bench faults` on a few simulated hours at a high rate: every fault class injected, nothing dropped silently.

The small bench: 8 simulated hours, 12 % of command lines faulted, 25 % of job starts stuck, 15
restarts per simulated day, a 0.2 s driver timeout, on the session's Prefect test server: about
20 s (6-13 faults of each class; 13 experiments, 3 rewarded, 10 lost). Then the
`[faults]` table of a lab file: read by `lab simulate` and the lab-file loader, refused with one
line per bad field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.campaign.fault_settings import FAULT_CLASSES, FaultSettings, parse_fault_table
from flows.campaign.runtime import load_lab_file, served_simulated_lab
from flows.cli.app import app
from lab.errors import SpecError

KEYS = ("injected", "recovered", "accounted", "unaccounted", "failed", "lost", "silent_drops", "silent_drop_details",
        "duplicated", "inconsistent", "throughput", "machine", "settings", "controller_events", "wall_s", "ok")


@pytest.fixture(scope="module")
def report(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`lab bench faults --hours 8 --rate 0.12 --stuck 0.25 --restarts-per-day 15 ... --json ...`: output and JSON."""
    out = tmp_path_factory.mktemp("bench") / "faults.json"
    result = CliRunner().invoke(app, ["bench", "faults", "--hours", "8", "--rate", "0.12", "--stuck", "0.25",
                                      "--restarts-per-day", "15", "--timeout", "0.2", "--late", "0.3", "--seed", "5",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    return {"output": result.output, **json.loads(out.read_text(encoding="utf-8"))}


def test_every_fault_class_is_injected_and_each_is_recovered_or_accounted(report: dict[str, Any]) -> None:
    assert set(KEYS) <= set(report)
    assert set(report["injected"]) == set(FAULT_CLASSES)
    assert all(report["injected"][k] > 0 for k in FAULT_CLASSES), report["injected"]
    for k in FAULT_CLASSES:
        assert report["recovered"][k] + report["accounted"][k] == report["injected"][k]
        assert report["unaccounted"][k] == 0
    by_instrument = report["injected_by_instrument"]
    assert {k: sum(c[k] for c in by_instrument.values()) for k in FAULT_CLASSES} == report["injected"]
    assert report["recovered"]["garbled"] == report["injected"]["garbled"]  # a garbled reply never costs an experiment


def test_nothing_vanishes_silently_and_every_loss_has_its_reason(report: dict[str, Any]) -> None:
    assert report["silent_drops"] == 0, report["silent_drop_details"]
    assert (report["duplicated"], report["inconsistent"]) == (0, 0), report["issues"]
    assert report["ok"] and report["status"] == "completed" and report["throughput"]["rewarded"] >= 1
    assert report["lost"], "at these rates some experiments are lost"
    assert all(e["reason"] and e["cause"] for e in report["lost"])  # each blamed on a stuck job or a restart
    assert sum(len(e["cause"]) for e in report["lost"]) <= report["accounted"]["stuck"] + report["accounted"]["restart"]
    assert report["controller_events"].get("experiment_lost") == len(report["lost"])
    tp = report["throughput"]
    assert tp["physical_limit"] > 0 and 0 <= tp["ratio"] == pytest.approx(tp["completed"] / tp["physical_limit"], abs=1e-3)
    assert {"platform", "cpu_count", "python"} <= set(report["machine"])
    assert "simulator restart" in report["output"] and "silent drops" in report["output"]


def write(tmp_path: Path, faults: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(f'[faults]\n{faults}\n[[instrument]]\nname = "xrd"\nkind = "xrd"\nport = "/dev/ttyUSB0"\n',
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("faults", "line"), [
    ("rate = 1.5", "faults.rate: expected a probability between 0 and 1, got 1.5"),
    ('rate = "often"', "faults.rate: expected a number, got 'often'"),
    ("restarts_per_day = -1", "faults.restarts_per_day: expected restarts per simulated day >= 0, got -1.0"),
    ('kinds = ["no_reply", "gremlins"]', "faults.kinds: expected distinct names among no_reply, late_reply, garbled, drop, "
                                         "device_error, got ['no_reply', 'gremlins']"),
    ("seed = 1.5", "faults.seed: expected an integer, got 1.5"),
    ("rates = 0.1", "faults.rates: unknown field; expected one of rate, kinds, stuck, restarts_per_day, late_s, seed, "
                    "instruments"),
])
def test_a_bad_faults_table_gives_one_line_naming_the_field(tmp_path: Path, faults: str, line: str) -> None:
    path = write(tmp_path, faults)
    with pytest.raises(SpecError) as info:
        load_lab_file(path)
    assert info.value.problems == [line]
    result = CliRunner().invoke(app, ["simulate", "--lab-file", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {path}: {line}" and "Traceback" not in result.output


def test_lab_simulate_names_an_instrument_it_does_not_have(tmp_path: Path) -> None:
    path = write(tmp_path, 'rate = 0.1\ninstruments = ["furnace-9"]')
    result = CliRunner().invoke(app, ["simulate", "--lab-file", str(path)])
    assert result.exit_code == 2 and "faults.instruments: 'furnace-9' not in this lab" in result.output


def test_a_faults_table_is_served_and_kept_in_the_lab_file(tmp_path: Path) -> None:
    settings = parse_fault_table({"rate": 0.1, "kinds": ["drop", "garbled"], "restarts_per_day": 6.0,
                                  "instruments": ["furnace-1", "xrd"]}, "lab.toml")
    assert settings.stuck == 0.1  # stuck defaults to the rate
    path = tmp_path / "served.toml"
    with served_simulated_lab(path, speed=600.0, faults=settings) as lab:
        plan = lab.devices["xrd"].faults.plan
        assert (plan.drop, plan.garbled, plan.no_reply, plan.stuck) == (0.05, 0.05, 0.0, 0.1)
        assert plan.restarts_per_h == pytest.approx(6.0 / 24.0 / 2)
        assert lab.devices["doser"].faults.plan.drop == 0.0
        entries, _ = load_lab_file(path)
    assert len(entries) == len(lab.devices)
    from flows.campaign.fault_settings import read_fault_table
    assert read_fault_table(path) == settings


def test_settings_refuse_bad_values_made_in_code() -> None:
    with pytest.raises(SpecError, match="faults.late_s"):
        FaultSettings(late_s=-0.1)
