"""Reading a pool's CSV: every cell checked, every problem reported at once, replicate rows grouped.

:func:`read_rows` reads the input and objective columns of a pool file (UTF-8, at most
:data:`lab.pool_files.MAX_CSV_BYTES`), checking that each value is a finite number and each input
lies in its ``input_ranges``. Up to :data:`MAX_PROBLEMS` problems are listed, one line each naming
the row and column and what was expected, then a count of the rest: one :class:`PoolError`.

:func:`group_replicates` merges rows whose inputs are identical (to 9 decimals) as the entry's
``replicates`` says: ``"mean"`` (their mean objective, as Liang et al. 2021 do), ``"first"``
(the first row's value) or ``"refuse"`` (a :class:`PoolError` naming the rows).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.errors import PoolError
from lab.pool_files import MAX_CSV_BYTES, check_file
from lab.pool_manifest import PoolSpec

__all__ = ["KEY_DECIMALS", "MAX_PROBLEMS", "Grouped", "group_replicates", "read_rows", "row_key"]

MAX_PROBLEMS = 50
KEY_DECIMALS = 9
_RANGE_SLACK = 1e-9


def row_key(values: np.ndarray | list[float]) -> tuple[float, ...]:
    """The lookup key of a row of inputs: each rounded to :data:`KEY_DECIMALS` (``-0.0`` as ``0.0``)."""
    return tuple(round(float(v), KEY_DECIMALS) + 0.0 for v in values)


def _show(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


class _Problems:
    """At most :data:`MAX_PROBLEMS` lines, then a count."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.more = 0

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(line)
        else:
            self.more += 1

    def done(self) -> list[str]:
        return self.lines + ([f"... and {self.more} more problems"] if self.more else [])


def _columns(header: list[str], spec: PoolSpec, problems: _Problems) -> tuple[list[int], int, int | None] | None:
    exclude = spec.exclude_column or ("olympus_removed" if "olympus_removed" in header else None)
    wanted = [*spec.inputs, spec.objective, *([exclude] if exclude else [])]
    missing = [c for c in wanted if c not in header]
    doubled = sorted({c for c in wanted if header.count(c) > 1})
    if missing:
        problems.add(f"header: missing column(s) {missing}; expected the entry's inputs and objective, "
                     f"got {_show(','.join(header))}")
    if doubled:
        problems.add(f"header: column(s) {doubled} appear more than once; expected each once")
    if missing or doubled:
        return None
    return [header.index(c) for c in spec.inputs], header.index(spec.objective), header.index(exclude) if exclude else None


def _scan(reader: Any, spec: PoolSpec, problems: _Problems) -> tuple[list[list[float]], list[float], list[int]]:
    header = next(reader, None)
    if header is None:
        problems.add("header: expected a header row naming the columns, got no rows")
        return [], [], []
    cols = _columns([c.strip() for c in header], spec, problems)
    if cols is None:
        return [], [], []
    input_cols, y_col, x_col = cols
    xs: list[list[float]] = []
    ys: list[float] = []
    lines: list[int] = []
    for row in reader:
        if not row or row == [""]:
            continue
        line = reader.line_num
        if len(row) != len(header):
            problems.add(f"row {line}: expected {len(header)} fields as in the header, got {len(row)}")
            continue
        if x_col is not None:
            flag = _number(row[x_col])
            if flag is None:
                problems.add(f"row {line}, column {header[x_col]!r}: expected a finite number, got {_show(row[x_col])}")
                continue
            if flag != 0.0:
                continue
        x: list[float] = []
        for c, j in zip(spec.inputs, input_cols):
            v = _number(row[j])
            lo, hi = spec.input_ranges[c]
            if v is None:
                problems.add(f"row {line}, column {c!r}: expected a finite number, got {_show(row[j])}")
            elif not lo - _RANGE_SLACK <= v <= hi + _RANGE_SLACK:
                problems.add(f"row {line}, column {c!r}: expected a value in input_ranges [{lo}, {hi}], got {v}")
            x.append(v if v is not None else math.nan)
        y = _number(row[y_col])
        if y is None:
            problems.add(f"row {line}, column {spec.objective!r}: expected a finite number, got {_show(row[y_col])}")
        xs.append(x)
        ys.append(math.nan if y is None else y)
        lines.append(line)
    return xs, ys, lines


def read_rows(spec: PoolSpec) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The pool file's inputs ``(n, d)``, objective ``(n,)`` and file line of each row kept.

    Raises:
        PoolError: the file is missing, a directory, empty, over the size limit or not UTF-8, or
            cells are wrong (one line per problem, naming the row and column), or no rows are left.
    """
    source = str(spec.path)
    check_file(spec.path, f"pool file of {spec.name!r}", MAX_CSV_BYTES)
    problems = _Problems()
    try:
        with spec.path.open(newline="", encoding="utf-8-sig") as fh:
            xs, ys, lines = _scan(csv.reader(fh, strict=True), spec, problems)
    except UnicodeDecodeError as exc:
        raise PoolError.of(source, [f"is not UTF-8 text ({exc.reason}), expected a CSV pool file"]) from None
    except csv.Error as exc:
        problems.add(f"is not a well-formed CSV file: {exc}")
        xs = []
    except OSError as exc:
        raise PoolError.of(source, [f"cannot be read: {exc.strerror or exc}"]) from None
    if problems.lines:
        raise PoolError.of(source, problems.done())
    if not xs:
        raise PoolError.of(source, ["the pool is empty: expected at least one data row (after excluded rows)"])
    return np.asarray(xs, dtype=np.float64).reshape(len(xs), len(spec.inputs)), np.asarray(ys, dtype=np.float64), lines


@dataclass(frozen=True)
class Grouped:
    """Rows after replicates are merged.

    Attributes:
        X: one row per distinct input, in first-seen order; y: its objective value.
        keys: the lookup key of each row (:func:`row_key`).
        raw_rows: rows read (after excluded rows); merged_rows: rows merged away (``raw_rows - len(y)``).
        replicate_groups: distinct inputs measured more than once.
    """

    X: np.ndarray
    y: np.ndarray
    keys: tuple[tuple[float, ...], ...]
    raw_rows: int
    merged_rows: int
    replicate_groups: int


def group_replicates(spec: PoolSpec, X_raw: np.ndarray, y_raw: np.ndarray, lines: list[int]) -> Grouped:
    """Merge rows with identical inputs as ``spec.replicates`` says (module docstring).

    Raises:
        PoolError: ``replicates`` is ``"refuse"`` and some inputs appear in more than one row
            (one line per group, naming its file lines).
    """
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, row in enumerate(X_raw):
        groups.setdefault(row_key(row), []).append(i)
    repeated = [rows for rows in groups.values() if len(rows) > 1]
    if repeated and spec.replicates == "refuse":
        problems = _Problems()
        for rows in repeated:
            problems.add(f"rows {', '.join(str(lines[i]) for i in rows)}: the same inputs measured {len(rows)} times; "
                         "expected distinct inputs (the manifest's replicates is 'refuse'; 'mean' merges them)")
        raise PoolError.of(str(spec.path), problems.done())
    X = np.asarray([X_raw[rows[0]] for rows in groups.values()], dtype=np.float64).reshape(len(groups), X_raw.shape[1])
    if spec.replicates == "first":
        y = np.asarray([y_raw[rows[0]] for rows in groups.values()], dtype=np.float64)
    else:
        # the sum of each value over the count cannot overflow where the sum of the values could
        y = np.asarray([float(np.sum(y_raw[rows] / len(rows))) for rows in groups.values()], dtype=np.float64)
    return Grouped(X, y, tuple(groups), len(y_raw), len(y_raw) - len(y), len(repeated))
