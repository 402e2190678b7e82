"""Experiment states, proposals, measurements, rewards and campaign states."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from lab.clock import SimulatedClock
from lab.errors import StateTransitionError
from lab.experiment import TERMINAL_STATES, ExperimentState, Measurement, Proposal
from lab.reward import RewardDefinition, RewardTerm
from lab.search_space import ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, PendingExperiment

S = ExperimentState


def test_happy_path_is_allowed_and_terminal_states_are_final() -> None:
    path = [S.PROPOSED, S.DISPATCHED, S.RUNNING, S.MEASURED, S.REWARDED]
    for a, b in zip(path, path[1:]):
        a.check_transition(b)
    assert TERMINAL_STATES == {S.REWARDED, S.CANCELLED, S.FAILED, S.LOST}
    for t in TERMINAL_STATES:
        assert not any(t.can_become(o) for o in S)


@pytest.mark.parametrize(("a", "b"), [(S.PROPOSED, S.RUNNING), (S.MEASURED, S.FAILED), (S.RUNNING, S.CANCELLED),
                                      (S.REWARDED, S.MEASURED)])
def test_skipping_or_reversing_is_refused(a: S, b: S) -> None:
    with pytest.raises(StateTransitionError, match=f"from {a.value} to {b.value}"):
        a.check_transition(b)


def test_measurement_round_trips_bit_for_bit() -> None:
    arr = np.random.default_rng(0).normal(size=(3500, 2))
    m = Measurement.from_array("xrd_pattern", arr, units="deg,counts", instrument="xrd")
    assert np.array_equal(m.array(), arr) and m.array().dtype == arr.dtype
    assert Measurement.from_dict(m.to_dict()) == m


def test_reward_signs_by_direction() -> None:
    r = RewardDefinition("v2", (RewardTerm("target_fraction", 2.0), RewardTerm("fit_residual", 1.0)))
    value = r.compute({"target_fraction": 0.5, "fit_residual": 0.1}, {"target_fraction": "maximize", "fit_residual": "minimize"})
    assert value == pytest.approx(0.9)
    assert RewardDefinition.from_dict(r.to_dict()) == r


def test_campaign_state_round_trip_and_best() -> None:
    space = SearchSpace((ContinuousParameter("x", 0.0, 1.0),))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    state = CampaignState(space, (Objective("y"),),
                          (Observation({"x": 0.1}, {"y": 0.2}, 0.2, experiment_id=1),
                           Observation({"x": 0.9}, {}, 0.0, failed=True, experiment_id=2),
                           Observation({"x": 0.5}, {"y": 0.7}, 0.7, experiment_id=3)),
                          (PendingExperiment({"x": 0.3}, now, 4),), budget_remaining=5, now=now, decision_index=2)
    assert CampaignState.from_dict(state.to_dict()) == state
    assert state.best().experiment_id == 3
    assert Proposal.from_dict(Proposal({"x": 1.0}, "p", "3", -1.5).to_dict()).log_prob == -1.5


def test_simulated_clock_only_moves_forward() -> None:
    clock = SimulatedClock()
    t0 = clock.now()
    clock.advance_to(t0.replace(year=2020))
    assert clock.now() == t0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_scaled_clocks_built_alike_agree_and_sleep_scaled() -> None:
    import time

    from lab.clock import DEFAULT_SIM_START, ScaledClock
    origin = time.time()
    a = ScaledClock(3600.0, DEFAULT_SIM_START, origin)
    b = ScaledClock.from_dict(a.to_dict())
    assert abs((a.now() - b.now()).total_seconds()) < 60.0  # the same time, to a real ~16 ms
    t0, w0 = a.now(), time.monotonic()
    a.sleep(360.0)  # six simulated minutes = 0.1 real seconds
    assert 0.09 <= time.monotonic() - w0 < 1.0
    assert (a.now() - t0).total_seconds() >= 360.0
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0.0, DEFAULT_SIM_START, origin)
