"""Pool metrics (lab.metrics) on hand-checkable cases, the authors' reference file, and pool loading (lab.pools)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from lab.metrics import (
    acceleration_factor,
    enhancement_factor,
    experiments_to_reach,
    mean_curve,
    median_ci,
    random_curve,
    random_experiments_to_reach,
    score_reference,
    top_curve,
)
from lab.pool_manifest import PoolError, find_pool, load_manifest
from lab.pools import load_pool
from lab.search_space import CompositionParameter

POOLS = Path(os.environ.get("LAB_POOLS_DIR") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pools")
REFERENCE = POOLS / "reference_topcount_GP_M52iso_LCB2_crossed_barrel.csv"


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent: set LAB_POOLS_DIR to the shared pools folder (they are not in the project)")


def test_top_curve_counts_top_rows_in_pick_order() -> None:
    assert top_curve([5, 1, 7, 3], top=[1, 3]).tolist() == [0.0, 0.5, 0.5, 1.0]
    with pytest.raises(ValueError, match="repeats"):
        top_curve([1, 1], top=[1])
    with pytest.raises(ValueError, match="top is empty"):
        top_curve([1], top=[])


def test_random_baseline_is_exactly_i_over_n() -> None:
    curve = random_curve(600)
    assert curve[0] == 1 / 600 and curve[299] == 0.5 and curve[-1] == 1.0
    assert random_experiments_to_reach(600, 0.8) == 480 == experiments_to_reach(curve, 0.8, n_top=600)
    assert np.allclose(enhancement_factor(curve, 600), 1.0)


def test_oracle_ordering_reaches_the_af_limit() -> None:
    n, top = 100, [10, 20, 30, 40, 50]
    oracle = top + [i for i in range(n) if i not in top]
    curve = top_curve(oracle, top)
    n_method = experiments_to_reach(curve, 0.8, n_top=5)
    assert n_method == 4  # 0.8 * 5 top rows, the first 4 picks
    assert acceleration_factor(n_method, n, 0.8) == pytest.approx(n / len(top)) == pytest.approx(20.0)
    assert enhancement_factor(curve, n)[0] == pytest.approx(20.0)  # 1/5 found vs 1/100 expected
    assert experiments_to_reach(top_curve([0, 1, 2], top), 0.2, 5) is None
    assert acceleration_factor(None, n) is None


def test_reach_uses_counts_for_one_run_and_fractions_for_a_mean() -> None:
    # 24 of 30 is exactly 0.8 (no float slip), a mean of 23.6/30 is not
    assert experiments_to_reach(np.array([23, 24]) / 30, 0.8, 30) == 2
    assert experiments_to_reach(np.array([23.6, 24.0]) / 30, 0.8, 30) == 2


def test_mean_curve_pads_each_run_with_its_last_value() -> None:
    agg = mean_curve([[0.0, 1.0], [0.0, 0.0, 0.5, 1.0]])
    assert agg.tolist() == [0.0, 0.5, 0.75, 1.0]
    assert mean_curve([[0.0, 1.0], [0.5]], statistic="median").tolist() == [0.25, 0.75]


def test_median_ci_is_seeded_and_brackets_the_median() -> None:
    values = [150, 160, 165, 170, 180, 190, 200]
    med, lo, hi = median_ci(values, seed=3)
    assert med == 170 and lo <= med <= hi and (lo, hi) == median_ci(values, seed=3)[1:]
    assert median_ci([1, 2, None, None, None])[0] == math.inf  # runs that never reached count as +inf


def test_reference_file_gives_the_authors_af() -> None:
    needs(REFERENCE)
    ref = score_reference(REFERENCE, n_pool=600)
    assert ref.runs == 50 and ref.n_top == 30
    assert (ref.n_method, ref.n_random) == (169, 480)  # README: 169 vs 479 (the random count 0-based)
    assert 2.6 <= ref.af <= 3.0
    assert ref.per_run_median == pytest.approx(164.5) and ref.per_run_iqr == pytest.approx((149.0, 179.0))


def test_real_pools_load_with_spaces_and_lookup() -> None:
    needs(POOLS / "manifest.json")
    specs = load_manifest(POOLS / "manifest.json")
    cb = load_pool(find_pool(specs, "crossed_barrel"))
    assert (cb.n, cb.n_top, cb.X.shape, cb.direction) == (600, 30, (600, 4), "maximize")
    assert cb.y[cb.top[0]] == cb.y.max() and len(set(cb.top)) == 30
    for i in (0, 123, 599):
        params = cb.params_of(i)
        cb.space.check(params)
        assert cb.index_of(params) == i and cb.measure(params) == cb.y[i]
    with pytest.raises(PoolError, match="no row has inputs"):
        cb.measure({**cb.params_of(0), "n": 7.5})
    oer = load_pool(find_pool(specs, "plate_3496"))
    assert (oer.n, oer.n_top, oer.direction) == (2121, 22, "minimize")
    assert oer.y[oer.top[0]] == oer.y.min()
    [param] = oer.space.parameters
    assert isinstance(param, CompositionParameter) and param.elements == ("Ni", "Fe", "Co", "Mn", "Ce", "La")
    comp = param.composition(oer.params_of(oer.top[0])["composition"])
    assert abs(sum(comp.get_el_amt_dict().values()) - 1.0) < 1e-9


def _manifest(tmp_path: Path, csv_text: str, **entry: object) -> Path:
    (tmp_path / "p.csv").write_text(csv_text)
    base = {"name": "t/p", "pool_file": "p.csv", "inputs": ["a", "b"], "input_ranges": {"a": [0, 1], "b": [0, 1]},
            "objective": "y", "direction": "maximize", "top5pct_count": 1}
    (tmp_path / "m.json").write_text(json.dumps([{**base, **entry}]))
    return tmp_path / "m.json"


def test_invalid_pools_give_errors_naming_file_row_and_column(tmp_path: Path) -> None:
    ok = "a,b,y\n0.1,0.2,1.0\n0.3,0.4,2.0\n"
    pool = load_pool(load_manifest(_manifest(tmp_path, ok))[0])
    assert pool.n == 2 and pool.top == (1,)
    with pytest.raises(PoolError, match=r"missing column\(s\) \['y'\]"):
        load_pool(load_manifest(_manifest(tmp_path, "a,b,z\n0.1,0.2,1\n"))[0])
    with pytest.raises(PoolError, match=r"p.csv: row 3, column 'b': expected a finite number, got 'x'"):
        load_pool(load_manifest(_manifest(tmp_path, "a,b,y\n0.1,0.2,1\n0.1,x,2\n"))[0])
    with pytest.raises(PoolError, match="the pool is empty"):
        load_pool(load_manifest(_manifest(tmp_path, "a,b,y\n"))[0])
    with pytest.raises(PoolError, match=r"expected a value in input_ranges \[0.0, 1.0\], got 2.0"):
        load_pool(load_manifest(_manifest(tmp_path, "a,b,y\n0.1,2.0,1\n"))[0])
    with pytest.raises(PoolError, match="manifest says 3 top rows"):
        load_pool(load_manifest(_manifest(tmp_path, ok, top5pct_count=3))[0])
    with pytest.raises(PoolError, match="missing field 'objective'"):
        load_manifest(_bad_manifest(tmp_path))
    with pytest.raises(PoolError, match="no pool named 'nope'"):
        find_pool(load_manifest(_manifest(tmp_path, ok)), "nope")


def _bad_manifest(tmp_path: Path) -> Path:
    (tmp_path / "bad.json").write_text(json.dumps([{"name": "x", "pool_file": "p.csv", "inputs": ["a"],
                                                    "input_ranges": {"a": [0, 1]}, "direction": "maximize"}]))
    return tmp_path / "bad.json"
