"""Raw measurements round-trip bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from db.engine import Store
from db.errors import ExperimentNotFound
from db.ledger import load_measurements, plan_steps, record_decision, store_measurement
from lab.experiment import Measurement, Proposal


def _experiment(store: Store, cid: int, t0) -> int:
    with store.session() as s:
        [eid] = record_decision(s, cid, [Proposal({"temperature_c": 1000.0, "atmosphere": "O2"}, "random", "1")],
                                pending_ids=[], made_at=t0, expected_completion=None, deadline=None)
    return eid


def test_an_xrd_pattern_and_a_2d_log_round_trip_bit_for_bit(store: Store, new_campaign, t0) -> None:
    eid = _experiment(store, new_campaign(), t0)
    rng = np.random.default_rng(3)
    pattern = rng.gamma(2.0, 150.0, size=3500)
    pattern[:6] = [np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max]  # the awkward values too
    log = np.stack([np.linspace(0.0, 36000.0, 1201), 25.0 + 1075.0 * rng.random(1201)], axis=1).astype(">f4")
    counts = rng.integers(0, 2**15, size=(7, 9), dtype=np.int16)
    with store.session() as s:
        [xrd_step] = plan_steps(s, eid, [("xrd", "diffractometer", {})], t0)
        store_measurement(s, eid, Measurement.from_array("xrd_pattern", pattern, units="counts", instrument="xrd-1",
                                                         calibration_id="si-2026-01", meta={"two_theta": [10, 80]}),
                          t0, step_id=xrd_step.id)
        store_measurement(s, eid, Measurement.from_array("temperature_log", log, units="s, degC", instrument="furnace-2"), t0)
        store_measurement(s, eid, Measurement.from_array("detector", counts, units="counts", instrument="xrd-1"), t0)
    with store.session() as s:
        [got_pattern] = load_measurements(s, eid, name="xrd_pattern")
        everything = load_measurements(s, eid)
    assert got_pattern.array().tobytes() == pattern.tobytes()
    assert got_pattern.dtype == "<f8" and got_pattern.shape == (3500,)
    assert (got_pattern.units, got_pattern.instrument, got_pattern.calibration_id) == ("counts", "xrd-1", "si-2026-01")
    assert got_pattern.meta == {"two_theta": [10, 80]}
    assert [m.name for m in everything] == ["xrd_pattern", "temperature_log", "detector"]
    got_log, got_counts = everything[1].array(), everything[2].array()
    assert got_log.shape == (1201, 2) and got_log.dtype == np.dtype(">f4") and got_log.tobytes() == log.tobytes()
    assert got_counts.shape == (7, 9) and np.array_equal(got_counts, counts)
    assert everything[1] == Measurement.from_array("temperature_log", log, units="s, degC", instrument="furnace-2")


def test_data_must_match_dtype_and_shape(store: Store, new_campaign, t0) -> None:
    eid = _experiment(store, new_campaign(), t0)
    bad = Measurement("xrd", b"\x00" * 12, "<f8", (2,), "counts", "xrd-1")
    with pytest.raises(ValueError, match="12 bytes"):
        with store.session() as s:
            store_measurement(s, eid, bad, t0)
    with pytest.raises(ExperimentNotFound):
        with store.session() as s:
            store_measurement(s, 999, Measurement.from_array("x", [1.0], units="", instrument="i"), t0)
