"""Candidate pools and training tensors."""

from __future__ import annotations

import math

import pytest
import torch

from lab.search_space import CompositionParameter, ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment
from policies.candidates import candidate_pool, sobol_unit
from policies.errors import PolicyArgumentError
from policies.features import training_data
from policies.protocol import point_key


def test_pool_is_feasible_exact_and_excludes_tried_points(space, make_state) -> None:
    state = make_state(space, 5, 3)
    pool = candidate_pool(state, size=200, seed=4)
    assert len(pool) == 200 and pool.X.shape == (200, space.dim) and pool.X.dtype == torch.float64
    assert float(pool.X.min()) >= 0.0 and float(pool.X.max()) <= 1.0
    onehot = pool.X[:, 2:5]
    assert torch.equal(onehot.sum(-1), torch.ones(200, dtype=torch.float64))
    for p, x in zip(pool.params, pool.X):
        space.check(p)
        assert torch.allclose(x, torch.tensor(space.encode(p), dtype=torch.float64))
        assert abs(sum(p["cations"].values()) - 1.0) <= 1e-6
    keys = {point_key(space.encode(p)) for p in pool.params}
    taken = {point_key(space.encode(o.params)) for o in (*state.observations, *state.pending)}
    assert len(keys) == 200 and not keys & taken
    # the same Sobol seed would give the same pool: points made pending are left out of it
    pending = tuple(PendingExperiment(p) for p in pool.params[:50])
    again = candidate_pool(CampaignState(space, (Objective("y"),), pending=pending), size=200, seed=4)
    pending_keys = {point_key(space.encode(p.params)) for p in pending}
    assert len(again) == 200 and not {point_key(space.encode(p)) for p in again.params} & pending_keys


def test_sobol_unit_fast_forward_matches_a_long_draw() -> None:
    assert torch.equal(sobol_unit(3, 10, seed=5)[6:], sobol_unit(3, 4, seed=5, skip=6))


def test_training_data_uses_rewards_and_treats_unrewarded_as_pending() -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 10.0),))
    obs = (Observation({"x": 1.0}, {"y": 5.0}, 0.5), Observation({"x": 2.0}, {"y": 7.0}, None),
           Observation({"x": 3.0}, {}, None, failed=True), Observation({"x": 4.0}, {"y": 1.0}, 0.1),
           Observation({"x": 99.0}, {"y": 1.0}, 0.3), Observation({"x": 5.0}, {"y": 1.0}, math.nan))
    state = CampaignState(space, (Objective("y"),), obs, pending=(PendingExperiment({"x": 6.0}),))
    d = training_data(state)
    assert d.target == "reward"
    assert d.X.squeeze(-1).tolist() == pytest.approx([0.1, 0.4, 0.3])  # the failure comes last, imputed
    assert d.Y.squeeze(-1).tolist() == [0.5, 0.1, 0.1]  # failure gets the worst reward
    assert d.X_pending.squeeze(-1).tolist() == pytest.approx([0.2, 0.6])
    assert (d.n_failed, d.n_dropped, d.n_awaiting) == (1, 2, 1)
    dropped = training_data(state, failed="drop")
    assert dropped.n == 2 and dropped.n_dropped == 3
    with pytest.raises(PolicyArgumentError):
        training_data(state, failed="keep")


def test_training_data_falls_back_to_the_signed_first_objective() -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    obs = (Observation({"x": 0.1}, {"loss": 2.0}), Observation({"x": 0.2}, {"loss": 3.0}), Observation({"x": 0.3}, {}))
    d = training_data(CampaignState(space, (Objective("loss", "minimize"),), obs))
    assert d.target == "objective:loss"
    assert d.Y.squeeze(-1).tolist() == [-2.0, -3.0]
    assert d.X_pending.shape == (1, 1) and d.n_awaiting == 1


def test_training_data_shapes_when_empty_and_clamps_features() -> None:
    comp = CompositionParameter("c", (("Ba", 1 / 3, 1 / 3), ("Sr", 0.0, 1.0)), 1.0)
    space = SearchSpace((comp,))
    obs = (Observation({"c": {"Ba": 1 / 3, "Sr": 2 / 3}}, {}, 1.0),)
    d = training_data(CampaignState(space, (Objective("y"),), obs))
    assert d.X.shape == (1, 2) and float(d.X.min()) >= 0.0 and float(d.X.max()) <= 1.0
    empty = training_data(CampaignState(space, (Objective("y"),)))
    assert empty.X.shape == (0, 2) and empty.Y.shape == (0, 1) and empty.X_pending.shape == (0, 2)


def test_cached_encodings_follow_the_space_and_die_with_their_object() -> None:
    import gc

    from policies import protocol
    from policies.protocol import item_features, taken_keys

    a = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    b = SearchSpace((ContinuousParameter("x", 0.0, 2.0),))
    obs = Observation({"x": 0.5}, {"y": 1.0})
    assert item_features(a, obs) == ([0.5], (0.5,))
    assert item_features(a, obs) == ([0.5], (0.5,))  # cached
    assert item_features(b, obs) == ([0.25], (0.25,))  # another space: encoded again
    bad = Observation({"x": 3.0}, {"y": 1.0})
    assert item_features(a, bad) == (None, None)
    state = CampaignState(a, (Objective("y"),), (obs, bad), (PendingExperiment({"x": 0.1}),))
    assert taken_keys(state) == {(0.5,), (0.1,)}
    ident = id(obs)
    del obs, state
    gc.collect()
    assert ident not in protocol._ITEM_CACHE


def test_candidate_set_untried_drops_every_row_with_a_taken_key_and_keeps_order() -> None:
    from policies.candidates import CandidateSet

    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    rows = [{"x": 0.1}, {"x": 0.2}, {"x": 0.1}, {"x": 0.3}, {"x": 0.4}]
    cands = CandidateSet(rows)
    state = CampaignState(space, (Objective("y"),), (Observation({"x": 0.1}, {"y": 0.0}),),
                          (PendingExperiment({"x": 0.4}),))
    pool = cands.untried(state)
    assert pool.params == [{"x": 0.2}, {"x": 0.3}]
    assert torch.equal(pool.X, torch.tensor([[0.2], [0.3]], dtype=torch.float64))
    assert len(cands.untried(CampaignState(space, (Objective("y"),)))) == 5
