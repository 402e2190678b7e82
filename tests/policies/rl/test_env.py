"""Batched simulated campaigns: delayed results, rewards, invalid picks, the end of a campaign."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import policies.rl.env as env_module
from policies.rl.env import BatchedCampaigns, normalised_regret, top_rows
from policies.rl.evidence import GLOBAL_FEATURES
from policies.rl.tasks import RandomFeatureTasks, concat

G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}


def _tasks(n: int = 6, k: int = 21, seed: int = 0):
    return RandomFeatureTasks(kinds=("continuous",), dims=(2, 3), n_features=64).sample(n, seed=seed, n_candidates=k)


def _first_allowed(obs) -> torch.Tensor:
    return obs.mask.to(torch.int8).argmax(-1)


def test_results_are_pending_until_their_arrival_step(monkeypatch) -> None:
    env = BatchedCampaigns(_tasks(8), horizon=8, n_init=2, max_delay=3, seed=4)
    delay = env.delay.clone()
    assert (delay > 0).any() and (delay == 0).any(), "setup: want both immediate and late results"
    seen = []
    real = env_module.featurize
    monkeypatch.setattr(env_module, "featurize", lambda batch, **kw: seen.append(batch) or real(batch, **kw))
    made: list[torch.Tensor] = []
    while not env.done:
        t = env.t
        obs = env.observe()
        batch = seen[-1]
        # experiment s (made at step s >= n_init) arrives at s + 1 + delay; the initial ones at once
        steps = torch.arange(t)
        arrive = torch.where(steps[None] < 2, steps[None], steps[None] + 1 + delay[:, None])
        expected_obs = arrive <= t
        assert torch.equal(batch.obs_mask, expected_obs)
        assert torch.equal(batch.pending_mask, ~expected_obs)
        glob = obs.features.globals
        assert torch.allclose(glob[:, G["pending"]], torch.log1p((~expected_obs).sum(-1).double()) / 2)
        assert torch.allclose(glob[:, G["observed"]], torch.log1p(expected_obs.sum(-1).double()) / 5)
        waits = torch.where(expected_obs, torch.full_like(arrive, 10**9), arrive).amin(-1) - t
        waits = torch.where(waits > 10**8, torch.zeros_like(waits), waits)
        assert torch.allclose(glob[:, G["time_to_next"]], waits.double() / 4)
        if made:  # the pick just made sits in the pending slots exactly when its result is late
            last = made[-1]
            coords = env.tasks.candidates[torch.arange(8), last]
            assert torch.allclose(batch.pending[:, t - 1], coords)
            assert torch.equal(batch.pending_mask[:, t - 1], delay > 0)
        picks = _first_allowed(obs)
        made.append(picks)
        env.step(picks)
    assert len(made) == 6


def test_late_results_do_not_leak_into_the_features() -> None:
    env = BatchedCampaigns(_tasks(8), horizon=6, n_init=2, max_delay=3, seed=4)
    late = env.delay > 0
    pick = _first_allowed(env.observe())
    env.step(pick)
    before = env.observe().features.candidates.clone()
    rows = torch.arange(8)
    env.noisy[rows, pick] += 100.0  # change the measured value of the experiment just made
    after = env.observe().features.candidates
    same = (after - before).abs().amax((-1, -2)) == 0
    assert torch.equal(same, late)  # late results invisible; immediate ones do change the features


def test_reward_is_the_share_of_top_rows_found_over_the_horizon_and_regret_is_kept() -> None:
    tasks = _tasks(4, k=41)  # odd K: the median is unambiguous; ceil(0.05 * 41) = 3 top rows
    horizon = 9
    env = BatchedCampaigns(tasks, horizon=horizon, n_init=2, max_delay=1, seed=1)
    values = tasks.values.numpy()
    gen = torch.Generator().manual_seed(0)
    total = torch.zeros(4, dtype=torch.float64)
    while not env.done:
        obs = env.observe()
        picks = torch.multinomial(obs.mask.double(), 1, generator=gen)[:, 0]
        reward = env.step(picks)
        total += reward
        for b in range(4):
            made = env.picked[b, : env.t].numpy()
            assert len(set(made.tolist())) == env.t
            top3 = set(np.argsort(-values[b])[:3].tolist())
            found = len(top3 & set(made.tolist())) / 3
            assert float(reward[b]) == pytest.approx(found / (horizon - 2), abs=1e-12)
            best = values[b, made].max()
            regret = (values[b].max() - best) / (values[b].max() - np.median(values[b]))
            assert float(env.regret()[b]) == pytest.approx(regret, abs=1e-12)
    assert ((total >= 0) & (total <= 1)).all()  # the return is the area under the Top% curve


def test_finding_a_top_row_pays_and_the_best_gives_zero_regret() -> None:
    tasks = _tasks(3)
    env = BatchedCampaigns(tasks, horizon=5, n_init=2, max_delay=2, seed=2)
    top = torch.nan_to_num(tasks.values, nan=-np.inf).argmax(-1)
    taken = (env.picked[:, :2] == top[:, None]).any(-1)
    picks = torch.where(taken, _first_allowed(env.observe()), top)
    reward = env.step(picks)
    assert (reward > 0).all() and (env.regret() == 0).all() and (env.top_found() > 0).all()
    assert (env.step(_first_allowed(env.observe())) >= reward).all()  # found rows stay found


def test_top_rows_are_the_best_ceil_five_percent_of_the_real_candidates() -> None:
    values = torch.tensor([[float(v) for v in range(30)] + [float("nan")] * 10], dtype=torch.float64)
    top = top_rows(values)
    assert top[0].nonzero()[:, 0].tolist() == [28, 29]  # ceil(0.05 * 30) = 2
    assert top_rows(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)).sum() == 1  # at least one


def test_normalised_regret_ignores_padding() -> None:
    values = torch.tensor([[1.0, 5.0, 3.0, float("nan"), float("nan")], [0.0, 2.0, 4.0, 6.0, 8.0]], dtype=torch.float64)
    assert normalised_regret(values, torch.tensor([5.0, 8.0], dtype=torch.float64)).tolist() == [0.0, 0.0]
    assert normalised_regret(values, torch.tensor([3.0, 4.0], dtype=torch.float64)).tolist() == [1.0, 1.0]
    assert normalised_regret(values, torch.tensor([1.0, 0.0], dtype=torch.float64)).tolist() == [2.0, 2.0]


def test_invalid_picks_raise_and_change_nothing() -> None:
    short = RandomFeatureTasks(kinds=("continuous",), dims=(2, 2), n_features=32).sample(1, seed=0, n_candidates=10)
    long = RandomFeatureTasks(kinds=("continuous",), dims=(2, 2), n_features=32).sample(1, seed=1, n_candidates=16)
    env = BatchedCampaigns(concat([short, long]), horizon=4, n_init=2, max_delay=0, seed=0)
    ok = _first_allowed(env.observe())
    assert not env.observe().mask[0, 10:].any() and env.observe().mask[1].sum() == 14
    with pytest.raises(ValueError):
        env.step(torch.tensor([12, int(ok[1])]))  # a padding candidate of the first task
    with pytest.raises(ValueError):
        env.step(torch.tensor([int(ok[0]), int(env.picked[1, 0])]))  # repeats an initial experiment
    assert env.t == 2 and (env.picked[:, 2:] == -1).all()
    env.step(ok)
    with pytest.raises(ValueError):
        env.step(ok)  # now taken
    env.step(_first_allowed(env.observe()))
    assert env.done and env.n_done == 4
    with pytest.raises(ValueError, match="over"):
        env.step(_first_allowed(env.observe()))


def test_initial_experiments_are_distinct_valid_and_observed_and_the_teachers_are_allowed() -> None:
    tasks = concat([_tasks(2, k=8, seed=3), _tasks(2, k=12, seed=4)])
    env = BatchedCampaigns(tasks, horizon=6, n_init=3, max_delay=2, seed=9)
    init = env.picked[:, :3]
    assert env.n_done == 3 and (init[:2] < 8).all()
    assert all(len(set(row.tolist())) == 3 for row in init)
    obs = env.observe()
    assert torch.allclose(obs.features.globals[:, G["observed"]], torch.full((4,), math.log1p(3) / 5, dtype=torch.float64))
    assert (obs.features.globals[:, G["pending"]] == 0).all()
    assert obs.mask.gather(1, obs.features.teachers).all()
    assert torch.equal(obs.mask.sum(-1), torch.tensor([5, 5, 9, 9]))
    assert not obs.mask.gather(1, init).any()


def test_same_seed_same_campaigns() -> None:
    a = BatchedCampaigns(_tasks(3), horizon=5, seed=7)
    b = BatchedCampaigns(_tasks(3), horizon=5, seed=7)
    c = BatchedCampaigns(_tasks(3), horizon=5, seed=8)
    assert torch.equal(a.picked, b.picked) and torch.equal(a.delay, b.delay) and torch.equal(a.noisy, b.noisy)
    assert not torch.equal(a.noisy, c.noisy)
