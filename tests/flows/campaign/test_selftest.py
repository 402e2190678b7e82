"""``lab instruments selftest``: every command of every instrument, on the simulated lab.

A clean lab passes every row; a device that always answers one command with a hardware fault
shows that one row failed (the instrument's other commands still run) and makes the command exit
1; usage errors (a missing lab file, neither or both of ``--simulated``/``--config``) exit 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows.campaign.runtime import Rig, simulated_rig
from flows.campaign.selftest import SelftestRow, selftest
from flows.cli import instruments as cli_instruments
from lab.spec import CampaignSpec, example_path, load_spec
from simulators.faults import FaultPlan

FAULTY, FAULTY_COMMAND = "furnace-2", "PROG:LOG?"
FAULT_MESSAGE = "Hardware fault: thermocouple open"
#: What each kind's self-test must include besides identify, status and job_status.
JOB_COMMANDS = {"dosing": {"start_dose", "start_dose again", "result"},
                "furnace": {"start_program", "start_program again", "temperature_log", "unload"},
                "xrd": {"start_scan", "start_scan again", "fetch_pattern"}}


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return load_spec(example_path("batio3"))


@contextlib.contextmanager
def faulty_rig(spec: CampaignSpec, **kwargs: Any) -> Iterator[Rig]:
    """A simulated rig whose ``FAULTY`` furnace answers every ``FAULTY_COMMAND`` with ERR 500."""
    with simulated_rig(spec, faults={FAULTY: FaultPlan(error_message=FAULT_MESSAGE)}, **kwargs) as rig:
        assert rig.lab is not None
        rig.lab.devices[FAULTY].faults.force("device_error", times=1000, on=FAULTY_COMMAND)
        yield rig


def by_instrument(rows: list[SelftestRow]) -> dict[str, dict[str, SelftestRow]]:
    grouped: dict[str, dict[str, SelftestRow]] = {}
    for row in rows:
        grouped.setdefault(row.instrument, {})[row.command] = row
    return grouped


def test_every_command_of_every_instrument_passes_on_the_simulated_lab(spec: CampaignSpec) -> None:
    with simulated_rig(spec) as rig:
        rows = selftest(rig)
        starts = {name: device.starts for name, device in rig.lab.devices.items()}  # type: ignore[union-attr]
    assert [r for r in rows if not r.ok] == []
    grouped = by_instrument(rows)
    assert list(grouped) == ["doser", "furnace-1", "furnace-2", "furnace-3", "furnace-4", "xrd"]
    for name, commands in grouped.items():
        kind = next(iter(commands.values())).kind
        assert {"identify", "status", "errors", "job_status", "abort"} | JOB_COMMANDS[kind] <= set(commands), name
        assert commands["job_status"].result.startswith("done")
        assert all(r.seconds >= 0.0 for r in commands.values())
    assert starts == dict.fromkeys(grouped, 1)  # the repeated start with the same key started nothing
    assert "201 points" in grouped["xrd"]["fetch_pattern"].result
    assert "SELFTEST" in grouped["furnace-1"]["unload"].result


def test_a_device_error_fails_its_row_and_the_rest_still_runs(spec: CampaignSpec) -> None:
    with faulty_rig(spec) as rig:
        rows = selftest(rig)
    failed = [r for r in rows if not r.ok]
    assert [(r.instrument, r.command) for r in failed] == [(FAULTY, "temperature_log")]
    assert "500" in failed[0].result and FAULT_MESSAGE in failed[0].result
    faulty = by_instrument(rows)[FAULTY]
    assert faulty["unload"].ok and faulty["abort"].ok


def test_a_stuck_job_is_reported_and_aborted(spec: CampaignSpec) -> None:
    with simulated_rig(spec, faults={"xrd": FaultPlan(stuck=1.0)}) as rig:
        rows = selftest(rig)
        assert rig.lab is not None and rig.lab.devices["xrd"].current.stopped_at_s is not None  # type: ignore[attr-defined]
    xrd = by_instrument(rows)["xrd"]
    assert not xrd["job_status"].ok and "stuck" in xrd["job_status"].result
    assert not xrd["fetch_pattern"].ok and xrd["abort"].ok
    assert all(r.ok for r in rows if r.instrument != "xrd")


def test_cli_simulated_passes_and_prints_the_table() -> None:
    result = CliRunner().invoke(cli_instruments.instruments_app, ["selftest", "--simulated"])
    assert result.exit_code == 0, result.output
    assert "fetch_pattern" in result.output
    assert "52 commands, 0 failed" in result.output


def test_cli_exits_1_when_a_command_fails(spec: CampaignSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_instruments, "simulated_rig", faulty_rig)
    result = CliRunner().invoke(cli_instruments.instruments_app, ["selftest", "--simulated"])
    assert result.exit_code == 1, result.output
    assert "✗" in result.output
    assert "1 failed" in result.output


def test_cli_missing_lab_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nolab.toml"
    result = CliRunner().invoke(cli_instruments.instruments_app, ["selftest", "--config", str(missing)])
    assert result.exit_code == 2
    assert "nolab.toml" in result.output and "not found" in result.output


@pytest.mark.parametrize("args", [[], ["--simulated", "--config", "lab.toml"]], ids=["neither", "both"])
def test_cli_needs_exactly_one_of_simulated_and_config(args: list[str]) -> None:
    result = CliRunner().invoke(cli_instruments.instruments_app, ["selftest", *args])
    assert result.exit_code == 2
    assert "exactly one of --simulated" in result.output


def test_cli_config_on_real_time_caps_the_wait_and_stops_the_furnace(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab file of socket ports, on the wall clock: jobs outlast ``--max-wait``, nothing hangs."""
    monkeypatch.setattr(cli_instruments, "console", Console(width=200))  # table rows on one line each
    from lab.clock import SimulatedClock
    from simulators.lab import SimulatedLab

    flat = (np.linspace(10.0, 80.0, 3501), np.ones(3501))
    with SimulatedLab(SimulatedClock(), pattern_source=lambda sample: flat, furnaces=1, transport="socket") as lab:
        entries = [f'[[instrument]]\nname = "{n}"\nkind = "{k}"\nport = "{url}"\n' for n, (k, url) in lab.endpoints.items()]
        lab_file = tmp_path / "lab.toml"
        lab_file.write_text("\n".join(entries), encoding="utf-8")
        result = CliRunner().invoke(cli_instruments.instruments_app,
                                    ["selftest", "--config", str(lab_file), "--max-wait", "0.2"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "real instruments" in text and "cap" in text
    assert "program not done: stopped before unload" in text and "sample SELFTEST taken out" in text
    assert "NotReady" in text  # the dose and the scan were not waited for: their results are not there
    assert "2 failed" in text
