"""Every user error becomes one line and exit status 2, through :mod:`flows.cli.errors` alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import db
from flows.cli.app import app
from flows.cli.errors import user_lines, user_message
from flows.errors import MissingInstruments, NoTrainedPolicy
from lab.errors import SpecError
from lab.spec import example_path
from policies.errors import PolicyError

runner = CliRunner()
GOOD = example_path("batio3").read_text(encoding="utf-8")


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def test_unknown_policy_name_is_refused_at_queue_and_nothing_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD.replace('name = "rl"', 'name = "no-such-policy"'), encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", url])
    assert result.exit_code == 2
    assert "no-such-policy" in one_error_line(result.output)
    store = db.open_store(url)
    with store.session() as s:
        assert db.list_campaigns(s) == []
    store.dispose()


def test_unknown_policy_option_is_refused_at_queue(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD.replace('name = "rl"', 'name = "rl"\noptions = { temperature = 3 }'), encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", f"sqlite:///{tmp_path / 'lab.db'}"])
    assert result.exit_code == 2
    assert "temperature" in one_error_line(result.output)


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "manifest"),
    (json.dumps({"pools": [{"name": "x"}]}), "manifest"),
], ids=["not-json", "entry-without-fields"])
def test_bad_manifest_gives_one_line(tmp_path: Path, text: str, words: str) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["bench", "pools", "--manifest", str(manifest), "--methods", "random", "--seeds", "1"])
    assert result.exit_code == 2, result.output
    assert words in one_error_line(result.output).lower()


@pytest.mark.parametrize("body", [
    '[[instrument]]\nname = "doser"\nkind = "dosing"\nport = 5\n',
    "this is [not toml",
], ids=["port-not-a-string", "not-toml"])
def test_bad_lab_file_gives_one_line(tmp_path: Path, body: str) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(body, encoding="utf-8")
    result = runner.invoke(app, ["instruments", "selftest", "--config", str(lab_file)])
    assert result.exit_code == 2, result.output
    assert "lab.toml" in one_error_line(result.output)


def test_user_message_follows_explicit_causes_and_groups_but_not_bugs() -> None:
    wrapped = RuntimeError("flow run failed")
    wrapped.__cause__ = NoTrainedPolicy("RL policy version 'abc' is not in the store")
    assert user_message(wrapped) == "RL policy version 'abc' is not in the store"
    group = ExceptionGroup("tasks", [KeyError("x"), PolicyError("unknown policy 'zz'")])
    assert user_message(group) == "unknown policy 'zz'"
    assert user_message(KeyError("a bug")) is None
    handled = ValueError("a bug while handling")
    handled.__context__ = SpecError("spec.toml", ["implicit context is not a cause"])
    assert user_message(handled) is None


def test_each_problem_is_one_bounded_line_naming_the_file() -> None:
    lines = user_lines(SpecError("spec.toml", ["budget.experiments: must be >= 1", "seed: " + "x" * 1000]))
    assert lines is not None and len(lines) == 2
    assert lines[0] == "spec.toml: budget.experiments: must be >= 1"
    assert len(lines[1]) <= 400 and lines[1].endswith("...")
    many = user_lines(SpecError("spec.toml", [f"parameters[{i}]: bad" for i in range(50)]))
    assert many is not None and len(many) == 20 and many[-1] == "... and 31 more problems"
    assert user_message(MissingInstruments("furnace-9\nis not connected")) == "furnace-9 is not connected"
