"""Structured task families: reproducible, labelled, real encodings, and the structure each promises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.search_space import ContinuousParameter, SearchSpace
from policies.rl.families import MLPTasks, PoolTasks, StructuredGPTasks, TreeGridTasks
from policies.rl.tasks import concat

FAMILIES = [StructuredGPTasks(), MLPTasks(), TreeGridTasks()]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.family)
def test_reproducible_labelled_and_candidates_are_their_spaces_encodings(family) -> None:
    a, b = family.sample(5, seed=3, n_candidates=60), family.sample(5, seed=3, n_candidates=60)
    assert torch.equal(torch.nan_to_num(a.values), torch.nan_to_num(b.values)) and torch.equal(a.candidates, b.candidates)
    assert not torch.equal(torch.nan_to_num(a.values), torch.nan_to_num(family.sample(5, seed=4, n_candidates=60).values))
    assert set(a.family) == {family.family}
    for i in range(5):
        k = int(torch.isfinite(a.values[i]).sum())
        assert k == len(a.params[i]) and k >= 60 * 0.9
        enc = torch.tensor([a.spaces[i].encode(p) for p in a.params[i]], dtype=torch.float64)
        torch.testing.assert_close(a.candidates[i, :k, : a.spaces[i].dim], enc)
        assert 2 <= int(a.dims[i]) <= 6 and float(a.values[i, :k].std()) > 0


def test_structured_gp_tasks_have_dimensions_that_do_not_matter() -> None:
    tasks = StructuredGPTasks(dims=(4, 4), irrelevant=0.5, noise=(0.0, 0.0)).sample(30, seed=0, n_candidates=200)
    flat = 0
    for i in range(30):
        x, f = tasks.candidates[i].numpy(), tasks.values[i].numpy()
        corr = [abs(np.corrcoef(x[:, j], f)[0, 1]) for j in range(4)]
        flat += sum(c < 0.05 for c in corr)
    assert flat >= 10  # some of the 120 dimensions carry no signal


def test_grid_tasks_are_piecewise_constant_on_ordinal_levels_with_duplicates() -> None:
    tasks = TreeGridTasks(dims=(3, 3), noise=(0.0, 0.0)).sample(4, seed=1, n_candidates=300)
    for i in range(4):
        x = tasks.candidates[i, :, :3].numpy()
        assert all(len(np.unique(x[:, j])) <= 44 for j in range(3))  # ordinal levels, not a continuum
        keys = [tuple(r) for r in x[np.isfinite(tasks.values[i].numpy())]]
        assert len(set(keys)) < len(keys)  # replicate rows


def test_pool_tasks_use_the_pool_rows_measured_or_through_a_surrogate() -> None:
    rng = np.random.default_rng(0)
    rows = rng.random((150, 2))
    values = np.sin(4 * rows[:, 0]) + rows[:, 1]
    space = SearchSpace((ContinuousParameter("a", 0.0, 1.0), ContinuousParameter("b", 0.0, 1.0)))
    params = tuple({"a": float(r[0]), "b": float(r[1])} for r in rows)
    raw = PoolTasks("toy", space, params, rows, values, mode_weights=(1, 0, 0), noise=(0, 0)).sample(3, 0, 100)
    assert raw.family == ("pool:toy",) * 3 and raw.values.shape == (3, 100)
    for i in range(3):
        idx = [params.index(p) for p in raw.params[i]]
        torch.testing.assert_close(raw.candidates[i], torch.from_numpy(rows[idx]))
        # measured values, standardised or through a monotone transform: the order of the rows is kept
        order = np.argsort(values[idx])
        assert (np.diff(raw.values[i].numpy()[order]) >= -1e-9).all()
    gp = PoolTasks("toy", space, params, rows, values, mode_weights=(0, 1, 0), noise=(0, 0)).sample(2, 0, 100)
    for i in range(2):
        idx = [params.index(p) for p in gp.params[i]]
        assert np.corrcoef(gp.values[i].numpy(), values[idx])[0, 1] > 0.5  # a fitted surrogate, not noise
    assert concat([raw, gp]).values.shape == (5, 100)
