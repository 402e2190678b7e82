"""Phase fractions from a noisy pattern alone (NNLS against reference profiles)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lab.diffraction import DEFAULT_TWO_THETA, PHASES, mixture_profile
from lab.phase_analysis import PhaseEstimate, estimate_phases, target_fraction

GRID = DEFAULT_TWO_THETA
#: Stated accuracy on noisy patterns: largest absolute weight-fraction error over all phases.
TOLERANCE = 0.03


def noisy_pattern(fractions: dict[str, float], crystallite_nm: float, rng: np.random.Generator,
                  scale: float = 8000.0, background: float = 200.0) -> np.ndarray:
    """Counts as the simulated diffractometer makes them: scaled profile + background + Poisson noise."""
    expected = scale * mixture_profile(fractions, GRID, crystallite_nm)
    expected += background + 500.0 * np.exp(-(GRID - 10.0) / 15.0)
    return rng.poisson(expected).astype(np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_recovers_random_three_and_four_phase_mixtures(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(4):
        names = rng.choice(PHASES, size=int(rng.integers(3, 5)), replace=False)
        truth = dict(zip(names.tolist(), rng.dirichlet(np.ones(len(names))), strict=True))
        size = float(np.exp(rng.uniform(np.log(20.0), np.log(300.0))))
        estimate = estimate_phases(GRID, noisy_pattern(truth, size, rng))
        errors = [abs(estimate.fractions[p] - truth.get(p, 0.0)) for p in PHASES]
        assert max(errors) < TOLERANCE, (truth, size, estimate)
        assert sum(estimate.fractions.values()) == pytest.approx(1.0)
        assert min(estimate.fractions.values()) >= 0.0


@pytest.mark.parametrize("phase", PHASES)
def test_pure_phase_is_identified(phase: str) -> None:
    rng = np.random.default_rng(11)
    estimate = estimate_phases(GRID, noisy_pattern({phase: 1.0}, 50.0, rng))
    assert max(estimate.fractions, key=estimate.fractions.get) == phase
    assert estimate.fractions[phase] > 1.0 - TOLERANCE


def test_apparent_crystallite_size_tracks_the_true_one() -> None:
    rng = np.random.default_rng(3)
    sizes = [estimate_phases(GRID, noisy_pattern({"BaTiO3": 1.0}, s, rng)).crystallite_nm for s in (20.0, 50.0, 120.0)]
    assert sizes == sorted(sizes)
    assert sizes[1] == pytest.approx(50.0, rel=0.2)


def test_background_only_pattern_reports_no_phase() -> None:
    rng = np.random.default_rng(5)
    estimate = estimate_phases(GRID, rng.poisson(300.0 + 500.0 * np.exp(-(GRID - 10.0) / 15.0)).astype(float))
    assert all(v == 0.0 for v in estimate.fractions.values())
    assert estimate.crystallite_nm is None
    assert estimate.signal_to_noise < 5.0


def test_missing_candidate_phase_shows_in_the_residual() -> None:
    rng = np.random.default_rng(8)
    counts = noisy_pattern({"BaTiO3": 0.6, "BaCO3": 0.4}, 60.0, rng)
    full = estimate_phases(GRID, counts)
    partial = estimate_phases(GRID, counts, phases=("BaTiO3", "TiO2"))
    assert set(partial.fractions) == {"BaTiO3", "TiO2"}
    assert partial.residual > 2.0 * full.residual
    assert full.residual < 0.1


def test_target_fraction_and_serialisation() -> None:
    rng = np.random.default_rng(2)
    counts = noisy_pattern({"BaTiO3": 0.8, "TiO2": 0.2}, 80.0, rng)
    value = target_fraction(GRID, counts)
    assert value == pytest.approx(0.8, abs=TOLERANCE)
    estimate = estimate_phases(GRID, counts)
    assert estimate.target_fraction() == value
    assert estimate.target_fraction("Ba2TiO4") == pytest.approx(0.0, abs=TOLERANCE)
    assert PhaseEstimate.from_dict(estimate.to_dict()) == estimate


def test_fit_is_fast_after_the_first_call_on_a_grid() -> None:
    rng = np.random.default_rng(4)
    counts = noisy_pattern({"BaTiO3": 0.5, "BaCO3": 0.3, "TiO2": 0.2}, 40.0, rng)
    estimate_phases(GRID, counts)
    durations = []
    for _ in range(5):
        start = time.perf_counter()
        estimate_phases(GRID, counts)
        durations.append(time.perf_counter() - start)
    assert float(np.median(durations)) < 0.05


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: estimate_phases(GRID, np.ones(100)), "must match"),
        (lambda: estimate_phases(GRID, np.full(GRID.shape, np.nan)), "finite"),
        (lambda: estimate_phases(GRID, np.ones(GRID.shape), phases=("BaTiO3", "SrTiO3")), "phases must be"),
        (lambda: target_fraction(GRID, np.ones(GRID.shape), target="BaTiO3", phases=("TiO2",)), "not among"),
    ],
)
def test_bad_inputs_are_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
