"""Training task families: random-feature GP functions, tabulated tasks, concatenation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.search_space import ContinuousParameter, SearchSpace
from policies.protocol import point_key
from policies.rl.tasks import (
    KINDS,
    RandomFeatureTasks,
    TabulatedTasks,
    TaskBatch,
    concat,
)


def _same(a: TaskBatch, b: TaskBatch) -> bool:
    return (torch.equal(a.candidates, b.candidates) and torch.equal(a.values, b.values)
            and torch.equal(a.noise_sd, b.noise_sd) and torch.equal(a.dims, b.dims) and a.params == b.params
            and a.family == b.family and torch.allclose(a.lengthscale, b.lengthscale, rtol=0, atol=0, equal_nan=True))


def test_random_feature_tasks_are_reproducible_from_the_seed() -> None:
    family = RandomFeatureTasks(n_features=64)
    a, b, c = family.sample(4, seed=11, n_candidates=16), family.sample(4, seed=11, n_candidates=16), \
        family.sample(4, seed=12, n_candidates=16)
    assert _same(a, b)
    assert not torch.equal(a.values, c.values)


def test_candidates_are_distinct_valid_encodings_of_each_space() -> None:
    family = RandomFeatureTasks(n_features=64, lengthscale=(0.1, 0.3), noise=(0.05, 0.1))
    tasks = family.sample(9, seed=3, n_candidates=24)
    assert len(tasks) == 9 and tasks.values.shape == (9, 24)
    assert set(tasks.family) <= {f"rff:{k}" for k in KINDS} and len(set(tasks.family)) >= 2
    d_max = tasks.candidates.shape[2]
    for i, space in enumerate(tasks.spaces):
        dim = space.dim
        assert int(tasks.dims[i]) == dim and d_max >= dim
        assert len(tasks.params[i]) == 24
        keys = set()
        for j, params in enumerate(tasks.params[i]):
            space.check(params)
            enc = torch.tensor(space.encode(params), dtype=torch.float64)
            assert torch.allclose(tasks.candidates[i, j, :dim], enc, atol=1e-12)
            keys.add(point_key(enc.tolist()))
        assert len(keys) == 24
        assert (tasks.candidates[i, :, dim:] == 0).all()
        v = tasks.values[i].numpy()
        assert np.isfinite(v).all() and v.std() > 0
        assert 0.1 - 1e-12 <= float(tasks.lengthscale[i]) <= 0.3 + 1e-12
        assert 0.05 * v.std() * 0.999 <= float(tasks.noise_sd[i]) <= 0.1 * v.std() * 1.001


def test_nan_padding_only_beyond_each_tasks_candidates_and_concat_pads_consistently() -> None:
    a = RandomFeatureTasks(kinds=("continuous",), dims=(2, 2), n_features=32).sample(2, seed=1, n_candidates=10)
    b = RandomFeatureTasks(kinds=("continuous",), dims=(5, 5), n_features=32).sample(1, seed=2, n_candidates=16)
    both = concat([a, b])
    assert both.candidates.shape == (3, 16, 5) and both.values.shape == (3, 16)
    assert torch.isfinite(both.values[:2, :10]).all() and torch.isnan(both.values[:2, 10:]).all()
    assert torch.isfinite(both.values[2]).all()
    assert torch.equal(both.candidates[:2, :10, :2], a.candidates) and (both.candidates[:2, 10:] == 0).all()
    assert (both.candidates[:2, :, 2:] == 0).all() and torch.equal(both.candidates[2], b.candidates[0])
    assert torch.equal(both.values[:2, :10], a.values) and torch.equal(both.values[2], b.values[0])
    assert both.dims.tolist() == [2, 2, 5] and both.spaces == a.spaces + b.spaces
    assert both.params == a.params + b.params and both.family == a.family + b.family
    assert torch.equal(both.noise_sd, torch.cat([a.noise_sd, b.noise_sd]))
    assert torch.equal(both.lengthscale, torch.cat([a.lengthscale, b.lengthscale]))


def test_tabulated_tasks_use_the_given_values() -> None:
    space = SearchSpace((ContinuousParameter("a", 0.0, 2.0), ContinuousParameter("b", -1.0, 1.0)))
    params = tuple({"a": 2.0 * (i % 6) / 5, "b": -1.0 + 2.0 * (i // 6) / 4} for i in range(30))
    W = 3
    values = torch.tensor([[100.0 * w + i for i in range(30)] for w in range(W)])  # value names (variant, row)
    family = TabulatedTasks(space, params, values, noise=(0.0, 0.05), family="tab")
    tasks = family.sample(6, seed=5, n_candidates=12)
    assert tasks.values.shape == (6, 12) and tasks.candidates.shape == (6, 12, 2)
    assert tasks.family == ("tab",) * 6 and tasks.dims.tolist() == [2] * 6 and torch.isnan(tasks.lengthscale).all()
    variants = set()
    for r in range(6):
        rows = [params.index(p) for p in tasks.params[r]]
        assert len(set(rows)) == 12  # a subset without repeats
        w = int(tasks.values[r, 0] // 100)
        variants.add(w)
        assert tasks.values[r].tolist() == [100.0 * w + i for i in rows]  # one variant per task, right rows
        for j, i in enumerate(rows):
            assert tasks.candidates[r, j].tolist() == pytest.approx(space.encode(params[i]), abs=1e-12)
        assert 0 <= float(tasks.noise_sd[r]) <= 0.05 * float(tasks.values[r].std()) + 1e-12
    assert len(variants) >= 2
    assert _same(tasks, family.sample(6, seed=5, n_candidates=12))
    everything = family.sample(2, seed=0, n_candidates=100)  # more than there are: all of them
    assert everything.values.shape == (2, 30) and sorted(params.index(p) for p in everything.params[0]) == list(range(30))


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task kind"):
        RandomFeatureTasks(kinds=("spherical",)).sample(1, seed=0, n_candidates=4)


def test_values_vary_on_the_generating_lengthscale() -> None:
    # a short lengthscale gives a rougher function: neighbouring candidates differ more (relative to the spread)
    def roughness(ls: float) -> float:
        fam = RandomFeatureTasks(kinds=("continuous",), dims=(1, 1), lengthscale=(ls, ls), n_features=256)
        t = fam.sample(6, seed=0, n_candidates=200)
        out = []
        for i in range(6):
            order = torch.argsort(t.candidates[i, :, 0])
            v = t.values[i, order]
            out.append(float(v.diff().abs().mean() / v.std()))
        return float(np.mean(out))

    assert roughness(0.05) > 2 * roughness(0.5)
    assert math.isclose(float(RandomFeatureTasks(dims=(1, 1), kinds=("continuous",), lengthscale=(0.2, 0.2))
                               .sample(1, seed=0, n_candidates=4).lengthscale[0]), 0.2)


def test_encoded_dimensions_stay_in_the_stated_range() -> None:
    tasks = RandomFeatureTasks(dims=(2, 4), n_features=16).sample(30, seed=0, n_candidates=4)
    assert 2 <= int(tasks.dims.min()) and int(tasks.dims.max()) <= 4
