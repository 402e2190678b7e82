"""Stored raw measurements as CSV files, one per measurement: ``<sample>_<name>.csv``.

Each measurement is written exactly as stored (:func:`db.load_measurements`, bit for bit): floats
as Python's shortest round-tripping decimal (``float(text)`` gives the stored number back), integers
as integers. The header row names the columns:

* a 2-D array whose ``meta["columns"]`` names its columns uses those names (``xrd_pattern``:
  ``two_theta_deg,counts``; ``temperature_log``: ``time_h,temperature_c``; ``uvvis_spectrum``:
  ``wavelength_nm,absorbance``), any other 2-D array ``col0,col1,...``;
* a 1-D array with a list of labels of the same length in its ``meta`` (``dosed_mg``:
  ``meta["precursors"]``) is two columns, the label's key and the measurement's name
  (``precursors,dosed_mg``); any other 1-D array is one column named after the measurement.

A second measurement of the same name of one sample is ``<sample>_<name>_2.csv``, and so on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

import db
from lab.experiment import Measurement

__all__ = ["measurement_csv", "measurement_files"]


def _cell(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, (int, np.integer, bool, np.bool_)):
        return str(int(x))
    return str(x)


def _labels(m: Measurement, n: int) -> tuple[str, list[Any]] | None:
    for key, value in sorted(m.meta.items()):
        if isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value):
            return key, value
    return None


def measurement_csv(m: Measurement) -> str:
    """One measurement as CSV text (see the module docstring for the header)."""
    array = m.array()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if array.ndim == 2:
        columns = m.meta.get("columns")
        names = [str(c) for c in columns] if isinstance(columns, list) and len(columns) == array.shape[1] else \
            [f"col{i}" for i in range(array.shape[1])]
        writer.writerow(names)
        writer.writerows([_cell(x) for x in row] for row in array.tolist())
    elif array.ndim == 1:
        labels = _labels(m, array.shape[0])
        if labels is None:
            writer.writerow([m.name])
            writer.writerows([_cell(x)] for x in array.tolist())
        else:
            writer.writerow([labels[0], m.name])
            writer.writerows([label, _cell(x)] for label, x in zip(labels[1], array.tolist()))
    else:
        writer.writerow(["index", m.name])
        writer.writerows([str(i), _cell(x)] for i, x in enumerate(array.reshape(-1).tolist()))
    return out.getvalue()


def measurement_files(s: Session, experiments: Iterable[db.ExperimentInfo]) -> Iterator[tuple[str, str]]:
    """(file name, CSV text) of every stored measurement of ``experiments``, oldest first per sample."""
    for e in experiments:
        seen: dict[str, int] = {}
        for m in db.load_measurements(s, e.id):
            seen[m.name] = seen.get(m.name, 0) + 1
            suffix = "" if seen[m.name] == 1 else f"_{seen[m.name]}"
            yield f"{_safe(e.sample_id)}_{_safe(m.name)}{suffix}.csv", measurement_csv(m)


def _safe(name: str) -> str:
    """A file-name part: letters, digits, ``-``, ``_`` and ``.`` kept, anything else ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
