"""Raw measurements, stored whole and returned bit for bit.

Each :class:`lab.experiment.Measurement` is one row: the array's bytes (C order) with dtype, shape,
units, instrument and calibration id, never only a derived scalar (ARCHITECTURE.md, The life of one experiment).

Example (with a session from ``store.session()``)::

    mid = store_measurement(session, experiment_id, Measurement.from_array("xrd", counts, units="counts",
                            instrument="xrd-1"), at=clock.now())
    [pattern] = load_measurements(session, experiment_id, name="xrd")
"""

from __future__ import annotations

import copy
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.experiments import experiment_row
from db.models import Measurement as MeasurementRow
from db.types import aware_utc
from lab.experiment import Measurement

__all__ = ["load_measurements", "store_measurement"]


def store_measurement(session: Session, experiment_id: int, m: Measurement, at: datetime, step_id: int | None = None) -> int:
    """Store one measurement of an experiment; returns its id.

    Args:
        at: when it was measured.
        step_id: the step that produced it, if known.

    Raises:
        ExperimentNotFound: no experiment has this id.
        ValueError: the data's length does not match its dtype and shape.
    """
    at = aware_utc(at)
    expected = int(np.prod(m.shape, dtype=np.int64)) * np.dtype(m.dtype).itemsize
    if len(m.data) != expected:
        raise ValueError(f"measurement {m.name!r}: {len(m.data)} bytes do not hold shape {tuple(m.shape)} of {m.dtype} "
                         f"({expected} bytes)")
    experiment_row(session, experiment_id)
    row = MeasurementRow(experiment_id=experiment_id, step_id=step_id, name=m.name, data=bytes(m.data), dtype=m.dtype,
                         shape=[int(n) for n in m.shape], units=m.units, instrument=m.instrument,
                         calibration_id=m.calibration_id, meta=dict(m.meta), measured_at=at)
    session.add(row)
    session.flush()
    return row.id


def load_measurements(session: Session, experiment_id: int, name: str | None = None) -> list[Measurement]:
    """The experiment's measurements (only those called ``name``, if given), oldest first, bit for bit.

    Raises:
        ExperimentNotFound: no experiment has this id.
    """
    experiment_row(session, experiment_id)
    query = select(MeasurementRow).where(MeasurementRow.experiment_id == experiment_id)
    if name is not None:
        query = query.where(MeasurementRow.name == name)
    rows = session.scalars(query.order_by(MeasurementRow.measured_at, MeasurementRow.id))
    return [Measurement(r.name, bytes(r.data), r.dtype, tuple(int(n) for n in r.shape), r.units, r.instrument,
                        r.calibration_id, copy.deepcopy(r.meta)) for r in rows]
