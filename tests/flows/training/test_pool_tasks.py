"""Training pools as task families: the evaluation pools are refused, replicates and dialects are read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flows.errors import TrainingConfigError
from flows.training.pool_tasks import pool_families, train_pools_manifest


def _manifest(tmp_path: Path, name: str, rows: str, **extra) -> Path:
    (tmp_path / "pool.csv").write_text(rows)
    entry = {"name": name, "pool_file": "pool.csv", "inputs": ["a", "b"], "objective": "y",
             "direction": "minimize", **extra}
    if "parameter_spec" not in extra:
        entry["input_ranges"] = {"a": [0, 1], "b": [0, 1]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps([entry]))
    return path


def test_an_evaluation_pool_in_the_training_manifest_is_refused(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "liang2021/crossed_barrel", "a,b,y\n0,0,1\n1,1,2\n")
    with pytest.raises(TrainingConfigError, match="evaluation pool"):
        pool_families(path)


def test_replicates_are_averaged_values_signed_and_the_olympus_dialect_read(tmp_path: Path) -> None:
    rows = "a,b,y\n0,0,1.0\n0,0,3.0\n0.5,1,4.0\n1,0.5,0.0\n"
    path = _manifest(tmp_path, "toy/pool", rows, objective=["y"],
                     parameter_spec=[{"name": "a", "type": "continuous", "low": 0, "high": 1},
                                     {"name": "b", "type": "continuous", "low": 0, "high": 1}])
    (fam,) = pool_families(path)
    assert fam.name == "pool" and len(fam.values) == 3  # the two (0, 0) rows became one
    assert sorted(fam.values.tolist()) == [-4.0, -2.0, 0.0]  # minimised: larger is better after the sign
    np.testing.assert_allclose(fam.rows[fam.values.tolist().index(-2.0)], [0.0, 0.0])


def test_a_configured_path_without_a_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingConfigError, match="no manifest.json"):
        train_pools_manifest(str(tmp_path))
    path = _manifest(tmp_path, "toy/pool", "a,b,y\n0,0,1\n1,1,2\n")
    assert train_pools_manifest(str(tmp_path)) == path


def test_the_shared_training_pools_load_when_present() -> None:
    path = train_pools_manifest()
    if path is None:
        pytest.skip("no training pools here (set LAB_TRAIN_POOLS_DIR)")
    fams = pool_families(path)
    assert {f.name for f in fams} >= {"autoam", "fullerenes"} and all(len(f.values) >= 100 for f in fams)
