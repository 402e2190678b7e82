"""The Pareto front under mixed senses."""

import pytest

from lab.pareto import dominates, pareto_mask


def test_dominance_follows_each_objectives_sense() -> None:
    assert dominates((0.9, 0.01), (0.8, 0.02), ("maximize", "minimize"))
    assert not dominates((0.9, 0.03), (0.8, 0.02), ("maximize", "minimize"))
    assert not dominates((0.9, 0.02), (0.9, 0.02), ("maximize", "minimize"))  # equal points do not dominate


def test_front_keeps_trade_offs_and_drops_dominated() -> None:
    pts = [(0.9, 0.10), (0.8, 0.02), (0.7, 0.05), (0.9, 0.10), (0.5, 0.01)]
    assert pareto_mask(pts, ("maximize", "minimize")) == [True, True, False, True, True]


def test_bad_sense_and_ragged_points_are_refused() -> None:
    with pytest.raises(ValueError, match="sense 'max'"):
        pareto_mask([(1.0,)], ("max",))
    with pytest.raises(ValueError, match="2 values"):
        pareto_mask([(1.0,)], ("maximize", "minimize"))
