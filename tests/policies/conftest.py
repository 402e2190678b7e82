"""Fixtures for the policy tests: a mixed search space and campaign states on it.

Tests run with ``--import-mode=importlib``, so helpers are handed out as fixtures, not imported.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch

from lab.search_space import (
    CategoricalParameter,
    CompositionParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
)
from lab.state import CampaignState, Objective, Observation, PendingExperiment

torch.set_num_threads(min(2, torch.get_num_threads()))  # keep the GP tests light on 2-core CI


def mixed_space() -> SearchSpace:
    """Continuous + integer + categorical + composition: dim 1 + 1 + 3 + 3 = 8."""
    return SearchSpace((
        ContinuousParameter("temperature_c", 700.0, 1300.0, unit="°C"),
        IntegerParameter("dwell_h", 1, 12, unit="h"),
        CategoricalParameter("atmosphere", ("air", "O2", "N2")),
        CompositionParameter("cations", (("Ba", 0.2, 0.8), ("Sr", 0.0, 0.5), ("Ti", 0.2, 0.6)), 1.0),
    ))


def mixed_score(params: dict[str, Any]) -> float:
    """A smooth synthetic reward on the mixed space (for building observations)."""
    t = (params["temperature_c"] - 1000.0) / 300.0
    d = (params["dwell_h"] - 6) / 6
    gas = {"air": 0.0, "O2": 0.3, "N2": -0.2}[params["atmosphere"]]
    ba = params["cations"]["Ba"] - 0.5
    return math.exp(-(t * t + d * d + 4 * ba * ba)) + gas


def _make_state(space: SearchSpace, n_obs: int, n_pending: int = 0, *, seed: int = 0, decision_index: int = 0,
                budget: int | None = None, score=mixed_score) -> CampaignState:
    """A state with ``n_obs`` random rewarded observations and ``n_pending`` random pending ones."""
    rng = random.Random(1000 + seed)
    points = space.sample(rng, 4 * (n_obs + n_pending) + 8)
    valid = []
    for p in points:
        try:
            space.check(p)
        except ValueError:
            continue
        valid.append(p)
    obs = tuple(Observation(p, {"y": score(p)}, score(p)) for p in valid[:n_obs])
    pend = tuple(PendingExperiment(p) for p in valid[n_obs : n_obs + n_pending])
    return CampaignState(space, (Objective("y"),), obs, pend, budget_remaining=budget,
                         decision_index=decision_index, seed=seed)


@pytest.fixture
def space() -> SearchSpace:
    """Continuous + integer + categorical + composition (dim 8)."""
    return mixed_space()


@pytest.fixture
def make_state() -> Callable[..., CampaignState]:
    """``make_state(space, n_obs, n_pending=0, *, seed, decision_index, budget, score)``."""
    return _make_state
