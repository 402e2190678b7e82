"""The phase library: structures, stick patterns, Scherrer-broadened profiles."""

from __future__ import annotations

import numpy as np
import pytest

from lab import diffraction as d
from lab.diffraction import (
    DEFAULT_TWO_THETA,
    PHASES,
    mixture_profile,
    peak_fwhm_deg,
    phase_profile,
    phase_structure,
    stick_pattern,
    two_theta_grid,
    weight_scale,
)


def test_library_has_target_precursors_and_impurities() -> None:
    assert len(PHASES) >= 5
    assert {"BaTiO3", "BaCO3", "TiO2", "Ba2TiO4"} <= set(PHASES)
    assert PHASES[0] == "BaTiO3"


def test_default_grid_is_10_to_80_degrees_in_0p02_steps() -> None:
    assert DEFAULT_TWO_THETA.shape == (3500,)
    assert DEFAULT_TWO_THETA[0] == pytest.approx(10.0)
    assert DEFAULT_TWO_THETA[-1] == pytest.approx(79.98)
    assert np.allclose(np.diff(DEFAULT_TWO_THETA), 0.02)


@pytest.mark.parametrize("name", PHASES)
def test_structures_have_their_formula_and_sane_bond_lengths(name: str) -> None:
    structure = phase_structure(name)
    assert structure.composition.reduced_formula == d.phase_formula(name)
    distances = structure.distance_matrix + np.eye(len(structure)) * 99.0
    assert distances.min() > 1.2  # C-O in carbonate is the shortest bond, ~1.28 Å
    assert 3.0 < structure.density < 7.0  # g/cm³


def test_phase_structure_returns_independent_copies() -> None:
    first = phase_structure("TiO2")
    first.scale_lattice(first.volume * 2)
    assert phase_structure("TiO2").volume == pytest.approx(62.45, abs=0.1)


@pytest.mark.parametrize(("name", "strongest"), [("BaTiO3", 31.5), ("TiO2", 27.4), ("BaCO3", 23.9)])
def test_strongest_reflection_is_where_the_mineral_has_it(name: str, strongest: float) -> None:
    x, y = stick_pattern(name)
    assert x[np.argmax(y)] == pytest.approx(strongest, abs=0.15)


def test_stick_patterns_are_cached_and_read_only() -> None:
    x, y = stick_pattern("BaCO3")
    assert stick_pattern("BaCO3")[0] is x
    with pytest.raises(ValueError):
        y[0] = 1.0


def test_weights_are_relative_to_batio3_and_physical() -> None:
    assert weight_scale("BaTiO3") == pytest.approx(1.0)
    # Rutile scatters much less per gram than the barium phases.
    assert weight_scale("TiO2") < 0.6 * min(weight_scale(p) for p in PHASES if p.startswith("Ba"))


def test_profile_area_is_the_weight_scale_and_independent_of_size() -> None:
    grid = two_theta_grid(5.0, 100.0, 0.01)
    inner = (grid > 15.0) & (grid < 90.0)  # away from the edges, where tails leave the grid
    for size in (20.0, 300.0):
        y = phase_profile("TiO2", grid, size)
        x, sticks = stick_pattern("TiO2")
        expected = sticks[(x > 15.0) & (x < 90.0)].sum()
        assert y[inner].sum() * 0.01 == pytest.approx(expected, rel=0.06)


def test_scherrer_broadening_matches_the_rendered_width() -> None:
    grid = two_theta_grid(20.0, 24.5, 0.002)  # BaTiO3 (100) alone near 22.2°
    for size in (15.0, 40.0):
        y = phase_profile("BaTiO3", grid, size)
        above = grid[y >= y.max() / 2.0]
        measured = above[-1] - above[0]
        expected = float(peak_fwhm_deg(grid[np.argmax(y)], size))
        assert measured == pytest.approx(expected, rel=0.03)
    # Scherrer: 20 nm at 2θ = 30° gives K λ / (L cos θ) = 0.0071 rad = 0.41°.
    assert float(peak_fwhm_deg(30.0, 20.0)) == pytest.approx(np.hypot(0.4107, d.INSTRUMENT_FWHM_DEG), rel=0.01)


def test_larger_crystallites_give_taller_narrower_peaks() -> None:
    small = phase_profile("BaTiO3", DEFAULT_TWO_THETA, 20.0)
    large = phase_profile("BaTiO3", DEFAULT_TWO_THETA, 200.0)
    assert large.max() > 3 * small.max()
    assert np.argmax(large) == np.argmax(small)


def test_mixture_is_linear_in_weight_fractions() -> None:
    grid = DEFAULT_TWO_THETA
    mix = mixture_profile({"BaTiO3": 0.3, "TiO2": 0.5, "Ba2TiO4": 0.2}, grid, 60.0)
    parts = [w * phase_profile(p, grid, 60.0) for p, w in (("BaTiO3", 0.3), ("TiO2", 0.5), ("Ba2TiO4", 0.2))]
    assert np.allclose(mix, sum(parts))
    assert mix.dtype == np.float64 and mix.shape == grid.shape


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: phase_structure("SrTiO3"), "unknown phase"),
        (lambda: stick_pattern("anatase"), "unknown phase"),
        (lambda: phase_profile("BaTiO3", np.arange(1.0, 50.0, 0.1), 50.0), "expected within"),
        (lambda: phase_profile("BaTiO3", np.array([30.0, 20.0, 40.0]), 50.0), "strictly increasing"),
        (lambda: phase_profile("BaTiO3", DEFAULT_TWO_THETA, 0.0), "crystallite_nm"),
        (lambda: mixture_profile({"BaTiO3": -0.1}, DEFAULT_TWO_THETA, 50.0), ">= 0"),
        (lambda: mixture_profile({"Unobtainium": 1.0}, DEFAULT_TWO_THETA, 50.0), "unknown phase"),
        (lambda: two_theta_grid(80.0, 10.0, 0.02), "start < stop"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
