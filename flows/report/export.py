"""``lab export``: one campaign's experiments as CSV, JSON or Parquet, its raw measurements as CSV files.

The table has one row per experiment (columns: :mod:`flows.report.export_table`):

* **csv**: a header row, then one line per experiment; numbers as Python's shortest
  round-tripping decimal, timestamps ISO 8601 UTC (``2026-01-05T22:00:00+00:00``), an empty cell
  for a missing value;
* **json**: a list of row objects with the same keys, timestamps as the same strings, missing
  values ``null``;
* **parquet** (pyarrow): int columns ``int64``, numbers ``float64``, text ``string``, timestamps
  ``timestamp[us, tz=UTC]``, missing values null; the file's schema metadata holds
  ``campaign_id`` and the active ``reward_version``. Parquet is binary, so it needs an output file.

Without an output file the table goes to standard output. Each stored measurement is one CSV file
(:mod:`flows.report.export_measurements`) in the measurements folder: by default, next to the
output file, ``<output stem>_measurements/`` (``results/c1.csv`` → ``results/c1_measurements/
C1-E1_xrd_pattern.csv``); another folder with ``--measurements DIR``; none with
``--no-measurements`` or when the table goes to standard output without ``--measurements``.

Every file is written atomically: to a temporary file in the same folder, then renamed over the
target, so a reader never sees half a file. The measurement files come first and the table last;
an export into a folder used before replaces the files of the same names and leaves any others.

Reading the files back with pandas (not a dependency of this project)::

    import pandas as pd
    runs = pd.read_csv("results/c1.csv", parse_dates=["proposed_at", "rewarded_at"])
    runs = pd.read_parquet("results/c1.parquet")          # dtypes as stored, timestamps tz-aware UTC
    xrd = pd.read_csv("results/c1_measurements/C1-E1_xrd_pattern.csv")   # two_theta_deg, counts
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

import db
from flows.errors import UsageError
from flows.report.export_measurements import measurement_files
from flows.report.export_table import Column, ExportTable, Value, load_table

__all__ = ["FORMATS", "ExportResult", "check_format", "export_campaign", "render_text"]

#: The formats ``lab export`` writes.
FORMATS = ("csv", "json", "parquet")
_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "timestamp": pa.timestamp("us", tz="UTC")}


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the table (``None``: standard output), its rows, the measurement files."""

    output: Path | None
    rows: int
    measurements_dir: Path | None
    measurement_files: tuple[Path, ...]


def check_format(fmt: str, output: Path | None) -> str:
    """The format name, lower case, checked against :data:`FORMATS` and the output.

    Raises:
        UsageError: an unknown format, or parquet without an output file.
    """
    name = fmt.strip().lower()
    if name not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose csv, json or parquet")
    if name == "parquet" and output is None:
        raise UsageError("parquet is binary: give --output FILE.parquet (csv and json can go to standard output)")
    return name


def _text(value: Value) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


def render_text(table: ExportTable, fmt: str) -> str:
    """The table as CSV or JSON text (see the module docstring)."""
    if fmt == "json":
        rows = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in table.rows]
        return json.dumps(rows, indent=1, allow_nan=False) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.names)
    writer.writerows(["" if row[n] is None else _text(row[n]) for n in table.names] for row in table.rows)
    return out.getvalue()


def arrow_table(table: ExportTable, reward_version: str) -> pa.Table:
    """The table as a pyarrow table with the dtypes of the module docstring."""
    def array(column: Column) -> pa.Array:
        return pa.array([row[column.name] for row in table.rows], type=_ARROW[column.kind])
    schema = pa.schema([pa.field(c.name, _ARROW[c.kind]) for c in table.columns],
                       metadata={"campaign_id": str(table.campaign_id), "reward_version": reward_version})
    return pa.Table.from_arrays([array(c) for c in table.columns], schema=schema)


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file in its folder (``write`` fills it) and a rename."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    _atomic(path, lambda tmp: tmp.write_bytes(data))


def _folder(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} is a file, not a folder")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {what} {path}: folder {path.parent} does not exist (create it first)")


def export_campaign(store: db.Store, campaign_id: int, fmt: str, output: Path | None = None, *,
                    measurements: Path | None = None, with_measurements: bool = True,
                    stdout: IO[str] | None = None) -> ExportResult:
    """Export campaign ``campaign_id`` (see the module docstring).

    Args:
        fmt: ``csv``, ``json`` or ``parquet``.
        output: the table's file (``None``: ``stdout``; not for parquet).
        measurements: the measurements folder (default: ``<output stem>_measurements`` next to
            ``output``; none when the table goes to ``stdout``). Created if missing.
        with_measurements: False writes no measurement files.
        stdout: where the table goes without ``output``.

    Raises:
        CampaignNotFound: no campaign has this id.
        UsageError: a bad format, parquet without an output file, or a folder that does not exist
            (or is a file).
    """
    fmt = check_format(fmt, output)
    if output is not None:
        output = Path(output)
        if output.is_dir():
            raise UsageError(f"--output {output} is a folder; give a file name such as {output / f'campaign.{fmt}'}")
        if not output.parent.is_dir():
            raise UsageError(f"cannot write {output}: folder {output.parent} does not exist (create it first)")
    folder = None
    if with_measurements:
        folder = Path(measurements) if measurements is not None else \
            None if output is None else output.with_name(f"{output.stem}_measurements")
    if folder is not None:
        _folder(folder, "the measurements folder")
    written: list[Path] = []
    with store.session() as s:
        table = load_table(s, campaign_id)
        reward_version = db.get_campaign(s, campaign_id).reward_version
        if folder is not None:
            folder.mkdir(exist_ok=True)
            experiments = db.list_experiments(s, campaign_id)
            for name, text in measurement_files(s, experiments):
                path = folder / name
                _write_text(path, text)
                written.append(path)
    if output is None:  # csv or json (check_format refuses parquet without a file)
        (stdout or sys.stdout).write(render_text(table, fmt))
    elif fmt == "parquet":
        arrow = arrow_table(table, reward_version)
        _atomic(output, lambda tmp: pq.write_table(arrow, str(tmp)))
    else:
        _write_text(output, render_text(table, fmt))
    return ExportResult(output, len(table.rows), folder, tuple(written))
