"""Bad user files through the real `lab` command: one line per problem, exit 2, no traceback, nothing stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli.app import app
from lab.spec import example_path

runner = CliRunner()
GOOD = example_path("batio3").read_text(encoding="utf-8")
LAB = '[[instrument]]\nname = "furnace-1"\nkind = "furnace"\nport = "/dev/does-not-exist"\n'
SPECS = {"nan.toml": GOOD.replace("weight = 1.0", "weight = nan"),
         "seed.toml": GOOD.replace("seed = 7", "seed = 9223372036854775808"),
         "deep.toml": "a = " + "[" * 3000 + "]" * 3000 + "\n"}
LAB_FILES = {"instrument.toml": "instrument = [1, 2]\n", "limits.toml": LAB + "limits = 5\n",
             "hot.toml": LAB + 'limits = { max_temperature_c = "hot" }\n', "clock.toml": "[clock]\nspeed = 0\n" + LAB}


def check(output: str, exit_code: int, db_file: Path, *needles: str) -> None:
    assert exit_code == 2, output
    assert "Traceback" not in output and all(line.startswith("error: ") for line in output.strip().splitlines()), output
    assert all(n in output for n in needles), output
    assert not db_file.exists()  # nothing stored, not even an empty store


@pytest.mark.parametrize("name", [*SPECS, "binary.toml"])
def test_queue_of_a_bad_spec(tmp_path: Path, name: str) -> None:
    spec = tmp_path / name
    if name == "binary.toml":
        spec.write_bytes(bytes(range(256)) * 4)
    else:
        spec.write_text(SPECS[name], encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", f"sqlite:///{tmp_path / 'lab.db'}"])
    check(result.output, result.exit_code, tmp_path / "lab.db", str(spec))


@pytest.mark.parametrize("command", ["queue", "worker"])
@pytest.mark.parametrize("name", [*LAB_FILES, "binary.toml"])
def test_bad_lab_file(tmp_path: Path, name: str, command: str) -> None:
    lab = tmp_path / name
    if name == "binary.toml":
        lab.write_bytes(bytes(range(256)))
    else:
        lab.write_text(LAB_FILES[name], encoding="utf-8")
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD, encoding="utf-8")
    args = ["queue", str(spec)] if command == "queue" else ["worker", "--once"]
    result = runner.invoke(app, [*args, "--lab-file", str(lab), "--db", f"sqlite:///{tmp_path / 'lab.db'}"])
    check(result.output, result.exit_code, tmp_path / "lab.db", f"lab file {lab}")
    assert "campaign spec" not in result.output


def test_a_nan_spec_in_a_real_process_is_one_line_at_once(tmp_path: Path) -> None:
    spec = tmp_path / "nan.toml"
    spec.write_text(SPECS["nan.toml"], encoding="utf-8")
    env = {**os.environ, "LAB_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "flows.cli.app", "queue", str(spec), "--db",
                           f"sqlite:///{tmp_path / 'lab.db'}"], capture_output=True, text=True, timeout=120, env=env)
    check(done.stdout + done.stderr, done.returncode, tmp_path / "lab.db", "reward.terms[0].weight: expected a finite number")


@pytest.mark.parametrize(("text", "needle"), [
    ('version = "v2"\nterms = [{ objective = "target_fraction", weight = nan }]\n', "terms[0].weight: expected a finite number"),
    ('version = "v2"\nfailure_reward = 1e999\nterms = [{ objective = "target_fraction" }]\n', "failure_reward: expected a finite"),
    ("terms = " + "[" * 100 + "]" * 100 + "\n", "nested deeper than 32"),
])
def test_relabel_with_a_bad_reward_file(tmp_path: Path, text: str, needle: str) -> None:
    reward = tmp_path / "reward.toml"
    reward.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["relabel", "1", "--reward", str(reward), "--db", f"sqlite:///{tmp_path / 'lab.db'}"])
    check(result.output, result.exit_code, tmp_path / "lab.db", f"reward file {reward}: ", needle)
