"""``lab bench fuzz`` at a small N: no untyped exception in the loaders this project hardened."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.bench import fuzz_inputs
from flows.bench.fuzz import TARGETS, fuzz_bench, run_target
from flows.cli.app import app

HARDENED = ["spec", "lab-file", "reward-file", "reply", "block"]


def test_hardened_targets_raise_only_typed_errors() -> None:
    report = fuzz_bench(examples=200, targets=HARDENED, seed=0, shrink=False)
    for name in HARDENED:
        t = report["targets"][name]
        assert t["tried"] == 200 and t["untyped"] == 0, (name, t["examples"])
    assert report["untyped_total"] == 0 and "machine" in report


def test_pool_targets_report_their_shape() -> None:
    report = fuzz_bench(examples=40, targets=["pool-manifest", "pool-csv"], seed=0, shrink=False)
    for t in report["targets"].values():
        assert t["tried"] == 40 and 0 <= t["untyped"] <= 40 and isinstance(t["examples"], list)


def test_same_seed_same_inputs() -> None:
    import random
    ra, rb = random.Random("1:spec:0"), random.Random("1:spec:0")
    a = [fuzz_inputs.spec_input(ra) for _ in range(20)]
    b = [fuzz_inputs.spec_input(rb) for _ in range(20)]
    assert a == b and len(set(a)) > 1


def test_an_untyped_failure_is_counted_and_shrunk_by_hypothesis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.bench.fuzz as fuzz
    pattern = re.compile(r'^(?:ERR )?(-?\d+),"(.*)"$')  # the parser before its fix, with a bug that fires often

    def parse(line: str) -> tuple[int, str]:
        match = pattern.match(line)
        if match is None or len(match.group(1)) > 3:
            raise ValueError(f"bad code in {line[:20]!r}")
        return int(match.group(1)), match.group(2)

    monkeypatch.setattr(fuzz, "parse_error_reply", parse)
    t = run_target("reply", 600, seed=0, folder=tmp_path, shrink=True)
    assert t["untyped"] > 0 and t["examples"][0]["error"].startswith("ValueError")
    shrunk = [e for e in t["examples"] if e.get("shrunk")]
    assert shrunk and shrunk[0]["error"].startswith("ValueError") and shrunk[0]["input_bytes"] < 40


def test_cli_writes_json_per_target(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    result = CliRunner().invoke(app, ["bench", "fuzz", "--examples", "30", "--targets", "reply,block", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["targets"]) == {"reply", "block"}
    assert all({"tried", "untyped", "examples"} <= set(t) for t in report["targets"].values())
    bad = CliRunner().invoke(app, ["bench", "fuzz", "--targets", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output and set(TARGETS) >= set(HARDENED)
