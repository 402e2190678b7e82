"""``lab bench pools`` on a tiny pool in a tmp LAB_POOLS_DIR: replicates merged and reported; pool errors one line each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli.app import app

runner = CliRunner()
ENTRY: dict[str, Any] = {"name": "tiny/rep", "pool_file": "rep.csv", "inputs": ["a", "b"],
                         "input_ranges": {"a": [0, 1], "b": [0, 1]}, "objective": "y", "direction": "maximize",
                         "top5pct_count": 1}
# 8 rows, 6 distinct inputs: (0.1, 0.1) twice and (0.5, 0.5) twice
ROWS = "a,b,y\n0.1,0.1,1\n0.2,0.2,2\n0.1,0.1,3\n0.3,0.3,4\n0.4,0.4,5\n0.5,0.5,6\n0.5,0.5,8\n0.6,0.6,0.5\n"


def pools_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: str = ROWS, **entry: Any) -> Path:
    (tmp_path / "rep.csv").write_text(rows)
    (tmp_path / "manifest.json").write_text(json.dumps([{**ENTRY, **entry}]))
    monkeypatch.setenv("LAB_POOLS_DIR", str(tmp_path))
    return tmp_path


def test_a_pool_with_replicates_runs_and_reports_the_rows_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools_dir(tmp_path, monkeypatch)
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["bench", "pools", "--seeds", "1", "--methods", "random", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert ("tiny/rep: 2 replicate rows merged by their mean (8 rows read, 2 inputs measured more than once, N=6)"
            in " ".join(result.output.split()))
    pool = json.loads(out.read_text())["pools"]["tiny/rep"]
    assert (pool["n"], pool["raw_rows"], pool["merged_rows"], pool["replicate_groups"], pool["replicates"]) == \
        (6, 8, 2, 2, "mean")
    assert pool["methods"]["random"]["experiments_to_top80"]["runs"] == 1


def error_lines(output: str) -> list[str]:
    """Every line printed is ``error: <file>: <one problem>``, and there is no traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines) and "Traceback" not in output, output
    return lines


@pytest.mark.parametrize(("rows", "entry", "words"), [
    (ROWS, {"replicates": "refuse"}, "rows 2, 4: the same inputs measured 2 times"),
    (ROWS, {"direction": "up"}, "entry 'tiny/rep': direction: expected 'maximize' or 'minimize', got 'up'"),
    ("a,b,y\n0.1,0.1,nan\n", {}, "row 2, column 'y': expected a finite number, got 'nan'"),
    ("a,b,y\n", {}, "the pool is empty"),
], ids=["replicates-refused", "bad-direction", "nan-cell", "empty-pool"])
def test_pool_errors_are_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: str,
                                             entry: dict[str, Any], words: str) -> None:
    pools_dir(tmp_path, monkeypatch, rows, **entry)
    result = runner.invoke(app, ["bench", "pools", "--seeds", "1", "--methods", "random"])
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == (2 if "replicates" in entry else 1)  # the refused pool has two groups of replicates
    assert words in " ".join(lines[0].split())


def test_a_non_utf8_manifest_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools_dir(tmp_path, monkeypatch)
    (tmp_path / "manifest.json").write_bytes(b"\xff[]")
    result = runner.invoke(app, ["bench", "pools", "--seeds", "1", "--methods", "random"])
    assert result.exit_code == 2
    [line] = error_lines(result.output)
    assert "manifest.json: is not UTF-8 text" in line
