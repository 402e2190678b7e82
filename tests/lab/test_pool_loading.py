"""Pool manifests and CSVs (lab.pool_manifest, lab.pool_files, lab.pool_csv, lab.pools): replicates and typed errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from lab.errors import LabError, PoolError
from lab.pool_files import MAX_JSON_DEPTH, MAX_MANIFEST_BYTES
from lab.pool_manifest import load_manifest
from lab.pools import load_pool

BASE: dict[str, Any] = {"name": "t/p", "pool_file": "p.csv", "inputs": ["a", "b"],
                        "input_ranges": {"a": [0, 1], "b": [0, 1]}, "objective": "y", "direction": "maximize",
                        "top5pct_count": 1}
# rows 2 and 4 are the same inputs, and so are rows 3, 5 and 6: 6 rows read, 3 merged away, N = 3
REPLICATED = "a,b,y\n0.1,0.2,1.0\n0.3,0.4,2.0\n0.1,0.2,3.0\n0.3,0.4,4.0\n0.3,0.4,9.0\n0.5,0.5,0.5\n"


def write(tmp_path: Path, csv_text: str | bytes = REPLICATED, entries: Any = None, **entry: Any) -> Path:
    data = csv_text.encode() if isinstance(csv_text, str) else csv_text
    (tmp_path / "p.csv").write_bytes(data)
    manifest = tmp_path / "manifest.json"
    # "HUGE" stands for the JSON number 1e400 (json.dumps would write Infinity, which is not JSON)
    manifest.write_text(json.dumps([{**BASE, **entry}] if entries is None else entries).replace('"HUGE"', "1e400"))
    return manifest


def problems_of(manifest: Path, load: bool = False) -> list[str]:
    with pytest.raises(PoolError) as info:
        specs = load_manifest(manifest)
        if load:
            for spec in specs:
                load_pool(spec)
    err = info.value
    assert isinstance(err, LabError) and err.problems, err
    assert str(err).splitlines() == [f"{err.source}: {p}" for p in err.problems]
    return err.problems


def test_replicates_are_merged_by_their_mean_by_default(tmp_path: Path) -> None:
    pool = load_pool(load_manifest(write(tmp_path))[0])
    assert pool.spec.replicates == "mean"
    assert (pool.n, pool.raw_rows, pool.merged_rows, pool.replicate_groups) == (3, 6, 3, 2)
    assert pool.y.tolist() == [2.0, 5.0, 0.5]
    assert pool.measure({"a": 0.3, "b": 0.4}) == 5.0 and pool.top == (1,)


def test_replicates_first_keeps_the_first_value(tmp_path: Path) -> None:
    pool = load_pool(load_manifest(write(tmp_path, replicates="first"))[0])
    assert pool.y.tolist() == [1.0, 2.0, 0.5] and pool.merged_rows == 3


def test_replicates_refuse_names_the_rows(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, replicates="refuse"), load=True)
    assert problems[0].startswith("rows 2, 4: the same inputs measured 2 times")
    assert problems[1].startswith("rows 3, 5, 6: the same inputs measured 3 times")


def test_no_replicates_means_nothing_merged(tmp_path: Path) -> None:
    pool = load_pool(load_manifest(write(tmp_path, "a,b,y\n0.1,0.2,1\n0.3,0.4,2\n", replicates="refuse"))[0])
    assert (pool.n, pool.raw_rows, pool.merged_rows, pool.replicate_groups) == (2, 2, 0, 0)


def test_a_one_element_objective_list_is_that_objective(tmp_path: Path) -> None:
    [spec] = load_manifest(write(tmp_path, objective=["y"]))
    assert spec.objective == "y" and load_pool(spec).n == 3


@pytest.mark.parametrize(("entry", "line"), [
    ({"direction": "up"}, "entry 't/p': direction: expected 'maximize' or 'minimize', got 'up'"),
    ({"inputs": "a"}, "entry 't/p': inputs: expected a non-empty list of distinct column names, got 'a'"),
    ({"inputs": ["a", "a"]}, "inputs: expected a non-empty list of distinct column names"),
    ({"inputs": []}, "inputs: expected a non-empty list"),
    ({"input_ranges": [0, 1]}, "entry 't/p': input_ranges: expected an object {input: [low, high]}, got a list"),
    ({"input_ranges": {"a": [0, 1], "b": [1, 0]}}, "input_ranges['b']: expected [low, high] of finite numbers with low < high, got [1, 0]"),
    ({"input_ranges": {"a": [0, 1], "b": [0, "HUGE"]}}, "input_ranges['b']: expected [low, high] of finite numbers"),
    ({"input_ranges": {"a": [0, 1], "b": [False, True]}}, "input_ranges['b']: expected [low, high] of finite numbers"),
    ({"input_ranges": {"a": [0, 1], "b": ["0", "1"]}}, "input_ranges['b']: expected [low, high]"),
    ({"input_ranges": {"a": [0, 1]}}, "input_ranges['b']: expected [low, high] of finite numbers with low < high, got nothing"),
    ({"input_ranges": {"a": [0, 1], "b": [0, 10**400]}}, "input_ranges['b']: expected [low, high]"),
    ({"objective": ["y", "z"]}, "objective: expected a column name (or a one-element list of one), got ['y', 'z']"),
    ({"objective": 3}, "objective: expected a column name"),
    ({"objective": "a"}, "objective: expected a column that is not an input, got 'a'"),
    ({"top5pct_count": "a"}, "top5pct_count: expected a whole number of rows >= 1, got 'a'"),
    ({"top5pct_count": "HUGE"}, "top5pct_count: expected a whole number of rows >= 1, got inf"),
    ({"top5pct_count": 2.5}, "top5pct_count: expected a whole number of rows >= 1"),
    ({"top0pct_count": 1}, "top0pct_count: expected k in (0, 100]"),
    ({"top1pct_count": 1}, "more than one top<k>pct_count field"),
    ({"top_fraction": 2}, "top_fraction: expected a number in (0, 1], got 2"),
    ({"top_fraction": True}, "top_fraction: expected a number in (0, 1], got True"),
    ({"name": 7}, "entry #1: name: expected a non-empty string, got 7"),
    ({"pool_file": 10**30}, "pool_file: expected a non-empty string"),
    ({"exclude_column": 5}, "exclude_column: expected a column name or null, got 5"),
    ({"replicates": "median"}, "replicates: expected one of 'mean', 'first', 'refuse', got 'median'"),
    ({"parameter_spec": "x", "input_ranges": None}, "input_ranges: expected an object"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_each_bad_field_is_one_line_naming_entry_and_field(tmp_path: Path, entry: dict[str, Any], line: str) -> None:
    manifest = write(tmp_path, **entry)
    assert any(line in p for p in problems_of(manifest)), problems_of(manifest)


def test_every_problem_of_every_entry_in_one_pass(tmp_path: Path) -> None:
    bad = {**BASE, "direction": "up", "objective": None}
    entries = [bad, {**BASE, "name": "t/q", "top_fraction": 0}, "oops", {"name": "t/r"}, BASE, BASE]
    problems = problems_of(write(tmp_path, entries=entries))
    assert problems[:3] == ["entry 't/p': objective: expected a column name (or a one-element list of one), got None",
                            "entry 't/p': direction: expected 'maximize' or 'minimize', got 'up'",
                            "entry 't/q': top_fraction: expected a number in (0, 1], got 0"]
    assert problems[3].startswith("entry #3: expected an object with fields name, pool_file")
    assert "entry 't/r': missing field 'pool_file'" in problems
    assert problems[-1] == "entry 't/p': name: expected a name no other entry has"


def test_olympus_parameter_spec_supplies_ranges(tmp_path: Path) -> None:
    entry = {k: v for k, v in BASE.items() if k != "input_ranges"}
    entry["parameter_spec"] = [{"name": "a", "low": 0, "high": 1}, {"name": "b", "low": 0, "high": 1}]
    [spec] = load_manifest(write(tmp_path, entries=[entry]))
    assert spec.input_ranges == {"a": (0.0, 1.0), "b": (0.0, 1.0)}


@pytest.mark.parametrize(("content", "line"), [
    (b"\xff\xfe[]", "is not UTF-8 text (byte 0xff at offset 0), expected a JSON manifest"),
    (b"", "is empty, expected a manifest"),
    (b"  \n", "is empty, expected a manifest"),
    (b"[" * 100000 + b"]" * 100000, "is nested 100000 levels deep, more than the 32 a manifest may be"),
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "is nested 33 levels deep"),
    (b'[{"name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]', "entry 'x' not found"),  # brackets in a string
    (b"{not json", "is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"[NaN]", "is not valid JSON: NaN is not a JSON number"),
    (b"[" + b"9" * 5000 + b"]", "is not valid JSON: Exceeds the limit"),
    (b'{"pools": []}', "expected a JSON list of pool entries, got an object"),
    (b"[]", "expected a JSON list of pool entries, got an empty list"),
    (b" " * (MAX_MANIFEST_BYTES + 1), f"is {MAX_MANIFEST_BYTES + 1} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have"),
], ids=["non-utf8", "empty", "blank", "deep", "33-deep", "brackets-in-string", "not-json", "nan", "huge-int", "object",
        "empty-list", "too-big"])
def test_unreadable_manifests_give_one_line(tmp_path: Path, content: bytes, line: str) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(content)
    if line == "entry 'x' not found":  # parses: then fails on its fields, not on depth
        assert any("missing field" in p for p in problems_of(manifest))
        return
    [problem] = problems_of(manifest)
    assert problem.startswith(line), problem


def test_missing_manifest_and_a_directory_give_one_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "none.json") == ["manifest not found (give --manifest or set LAB_POOLS_DIR)"]
    (tmp_path / "dir.json").mkdir()
    assert problems_of(tmp_path / "dir.json") == ["is a directory, expected a manifest"]


@pytest.mark.parametrize(("content", "line"), [
    (b"a,b,y\n0.1,\xff,1\n", "is not UTF-8 text (invalid start byte), expected a CSV pool file"),
    (b"", "is empty, expected a pool file of 't/p'"),
    (b"\n\n", "header: missing column(s) ['a', 'b', 'y']"),
    (b"a,b,y\n", "the pool is empty: expected at least one data row (after excluded rows)"),
    (b"a,a,b,y\n0,0,0,1\n", "header: column(s) ['a'] appear more than once; expected each once"),
    (b"a,b,y\n0.1,0.2\n", "row 2: expected 3 fields as in the header, got 2"),
    (b"a,b,y\n0.1,nan,1\n", "row 2, column 'b': expected a finite number, got 'nan'"),
    (b"a,b,y\n0.1,0.2,1e400\n", "row 2, column 'y': expected a finite number, got '1e400'"),
    (b"a,b,y\n0.1,0.2,-inf\n", "row 2, column 'y': expected a finite number, got '-inf'"),
    (b"a,b,y\n0.1,0.2,\x00\n", "row 2, column 'y': expected a finite number, got '\\x00'"),
    (b'a,b,y\n0.1,0.2,"1\n', "is not a well-formed CSV file: unexpected end of data"),
    (b"\xef\xbb\xbfa,b,y\n0.1,0.2,1\n0.1,0.2,x\n", "row 3, column 'y': expected a finite number, got 'x'"),
], ids=["non-utf8", "empty", "blank-lines", "header-only", "doubled-column", "short-row", "nan", "overflow", "inf",
        "nul", "open-quote", "bom-then-bad-cell"])
def test_bad_csvs_give_one_line(tmp_path: Path, content: bytes, line: str) -> None:
    problems = problems_of(write(tmp_path, content), load=True)
    assert len(problems) == 1 and problems[0].startswith(line), problems


def test_every_bad_cell_listed_then_counted(tmp_path: Path) -> None:
    rows = "".join(f"0.1,{i},x\n" for i in range(2, 70))
    problems = problems_of(write(tmp_path, "a,b,y\n" + rows), load=True)
    assert problems[0] == "row 2, column 'b': expected a value in input_ranges [0.0, 1.0], got 2.0"
    assert problems[1] == "row 2, column 'y': expected a finite number, got 'x'"
    assert len(problems) == 51 and problems[-1] == "... and 86 more problems"


def test_pool_file_that_is_a_directory_or_missing(tmp_path: Path) -> None:
    manifest = write(tmp_path, pool_file=".")
    assert problems_of(manifest, load=True) == ["is a directory, expected a pool file of 't/p'"]
    manifest = write(tmp_path, pool_file="none.csv")
    assert problems_of(manifest, load=True) == ["pool file of 't/p' not found"]


def test_pool_error_survives_pickling(tmp_path: Path) -> None:
    with pytest.raises(PoolError) as info:
        load_manifest(write(tmp_path, direction="up"))
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.source, back.problems, str(back)) == (info.value.source, info.value.problems, str(info.value))
