"""The hidden materials world: kinetics, lever rule, decomposition, and its noisy patterns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.diffraction import DEFAULT_TWO_THETA, PHASES, two_theta_grid
from lab.phase_analysis import estimate_phases
from lab.workflow import precursor_masses
from simulators.samples import AnnealRecord, SampleRecord
from simulators.world import ATMOSPHERES, MaterialsWorld, PhaseOutcome, WorldParameters

WORLD = MaterialsWorld()


def masses(ba_fraction: float) -> dict[str, float]:
    """1 g of BaCO3 + TiO2 with cation fraction Ba/(Ba+Ti) = ``ba_fraction``."""
    return precursor_masses({"Ba": ba_fraction, "Ti": 1.0 - ba_fraction}, {"Ba": "BaCO3", "Ti": "TiO2"}, 1000.0)


def anneal(t_c: float, dwell_h: float, atmosphere: str = "air", ramp: float = 5.0) -> list[AnnealRecord]:
    return [AnnealRecord(t_c, dwell_h, ramp, atmosphere)]


def target(ba_fraction: float, t_c: float, dwell_h: float, atmosphere: str = "air", world: MaterialsWorld = WORLD) -> float:
    return world.outcome(masses(ba_fraction), anneal(t_c, dwell_h, atmosphere)).fractions["BaTiO3"]


def test_hot_long_anneal_beats_cold_short_one() -> None:
    assert target(0.5, 1100, 8) > 0.95
    assert target(0.5, 700, 2) < 0.05
    cold = WORLD.outcome(masses(0.5), anneal(700, 2))
    assert cold.fractions["BaCO3"] + cold.fractions["TiO2"] > 0.95  # unreacted precursors


def test_no_anneal_leaves_the_dosed_precursors() -> None:
    outcome = WORLD.outcome({"BaCO3": 600.0, "TiO2": 400.0}, [])
    assert outcome.fractions["BaCO3"] == pytest.approx(0.6)
    assert outcome.fractions["TiO2"] == pytest.approx(0.4)


def test_off_stoichiometry_gives_the_lever_rule_impurity() -> None:
    ba_rich = WORLD.outcome(masses(0.55), anneal(1100, 8)).fractions
    ti_rich = WORLD.outcome(masses(0.45), anneal(1100, 8)).fractions
    # Ba:Ti = 1.22 fully reacted: per Ti, 0.78 BaTiO3 + 0.22 Ba2TiO4 by moles -> ~32 wt% Ba2TiO4.
    assert ba_rich["Ba2TiO4"] == pytest.approx(0.32, abs=0.02)
    assert ba_rich["TiO2"] < 0.005
    assert ti_rich["TiO2"] > 0.05 and ti_rich["Ba2TiO4"] < 0.005
    assert target(0.5, 1100, 8) > max(ba_rich["BaTiO3"], ti_rich["BaTiO3"])


def test_very_high_temperature_decomposes_the_target() -> None:
    hot = WORLD.outcome(masses(0.5), anneal(1350, 8)).fractions
    assert hot["BaTiO3"] < 0.5 * target(0.5, 1100, 8)
    assert hot["BaTiO3_hex"] > 0.3
    assert hot["TiO2"] > 0.01  # Ba volatilised, leaving Ti excess


def test_the_best_region_is_interior() -> None:
    best = target(0.5, 1100, 8)
    for ratio, t_c in [(0.45, 1100), (0.55, 1100), (0.5, 900), (0.5, 1300)]:
        assert target(ratio, t_c, 8) < best - 0.05
    assert target(0.5, 1000, 2) < target(0.5, 1000, 8)  # dwell matters at moderate T


def test_atmosphere_changes_kinetics_and_decomposition() -> None:
    # Flowing N2 removes CO2 and speeds the reaction at 1000 °C ...
    assert target(0.5, 1000, 4, "N2") > target(0.5, 1000, 4, "air") + 0.05
    # ... but lowers the onset of hexagonal decomposition.
    assert target(0.5, 1250, 8, "N2") < target(0.5, 1250, 8, "O2") - 0.1


def test_slow_ramps_add_reaction_time() -> None:
    slow = WORLD.outcome(masses(0.5), anneal(1000, 1, ramp=1.0)).fractions["BaTiO3"]
    fast = WORLD.outcome(masses(0.5), anneal(1000, 1, ramp=20.0)).fractions["BaTiO3"]
    assert slow > fast + 0.05


def test_anneals_accumulate() -> None:
    once = target(0.5, 1000, 2)
    twice = WORLD.outcome(masses(0.5), anneal(1000, 2) + anneal(1000, 2)).fractions["BaTiO3"]
    assert twice > once + 0.1


def test_crystallites_grow_with_temperature_and_time() -> None:
    sizes = [WORLD.outcome(masses(0.5), anneal(t, h)).crystallite_nm for t, h in [(900, 2), (1100, 2), (1100, 8)]]
    assert sizes == sorted(sizes) and sizes[0] < 40 and sizes[2] > 100


@settings(max_examples=60, deadline=None)
@given(
    ba=st.floats(0.0, 1.0),
    t_c=st.floats(25.0, 1800.0),
    dwell=st.floats(0.0, 48.0),
    ramp=st.floats(0.1, 50.0),
    atmosphere=st.sampled_from(ATMOSPHERES),
)
def test_fractions_are_a_distribution_over_phases(ba: float, t_c: float, dwell: float, ramp: float, atmosphere: str) -> None:
    dosed = {"BaCO3": 1000.0 * ba, "TiO2": 1000.0 * (1.0 - ba)}
    outcome = WORLD.outcome(dosed, anneal(t_c, dwell, atmosphere, ramp))
    assert set(outcome.fractions) == set(PHASES)
    assert min(outcome.fractions.values()) >= 0.0
    assert sum(outcome.fractions.values()) == pytest.approx(1.0)
    assert outcome.crystallite_nm >= WORLD.params.initial_crystallite_nm * (1 - 1e-9)
    assert outcome == WORLD.outcome(dosed, anneal(t_c, dwell, atmosphere, ramp))  # deterministic


def test_patterns_are_seeded() -> None:
    outcome = WORLD.outcome(masses(0.5), anneal(1000, 4))
    first = MaterialsWorld(seed=3).pattern(outcome)
    assert first.dtype == np.float64 and first.shape == DEFAULT_TWO_THETA.shape
    assert np.array_equal(first, MaterialsWorld(seed=3).pattern(outcome))
    assert not np.array_equal(first, MaterialsWorld(seed=4).pattern(outcome))
    world = MaterialsWorld(seed=3)
    assert not np.array_equal(world.pattern(outcome), world.pattern(outcome))  # fresh noise per scan
    a = WORLD.pattern(outcome, rng=np.random.default_rng(9))
    assert np.array_equal(a, WORLD.pattern(outcome, rng=np.random.default_rng(9)))
    grid = two_theta_grid(20.0, 60.0, 0.05)
    assert WORLD.pattern(outcome, grid).shape == grid.shape


def test_noise_is_poisson_around_the_expected_counts() -> None:
    outcome = PhaseOutcome({"BaTiO3": 1.0}, 60.0)
    expected = WORLD.expected_counts(outcome)
    measured = WORLD.pattern(outcome, rng=np.random.default_rng(0))
    z = (measured - expected) / np.sqrt(expected)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
    assert expected.max() > 5000  # a realistic peak height


def test_measure_uses_the_sample_history() -> None:
    sample = SampleRecord("S-1", masses(0.5), anneal(1100, 8))
    measured = WORLD.measure(sample, np.random.default_rng(1))
    direct = WORLD.pattern(WORLD.outcome(sample.dosed_mg, sample.anneals), rng=np.random.default_rng(1))
    assert np.array_equal(measured, direct)


def test_analysis_of_world_patterns_recovers_the_truth() -> None:
    rng = np.random.default_rng(12)
    for ratio, t_c, dwell, atmosphere in [(0.5, 1000, 4, "air"), (0.53, 1150, 6, "O2"), (0.47, 1300, 8, "N2")]:
        truth = WORLD.outcome(masses(ratio), anneal(t_c, dwell, atmosphere))
        estimate = estimate_phases(DEFAULT_TWO_THETA, WORLD.pattern(truth, rng=rng))
        assert max(abs(estimate.fractions[p] - truth.fractions[p]) for p in PHASES) < 0.03


def test_sampled_worlds_differ_but_stay_valid() -> None:
    rng = np.random.default_rng(0)
    params = [WorldParameters.sample(rng) for _ in range(5)]
    assert len({p.activation_energy_kj_mol for p in params}) == 5
    targets = [target(0.5, 1000, 4, world=MaterialsWorld(p)) for p in params]
    assert max(targets) - min(targets) > 0.05
    for p in params:
        assert WorldParameters.from_dict(p.to_dict()) == p
        world = MaterialsWorld(p)
        assert target(0.5, 1100, 8, world=world) > target(0.5, 750, 1, world=world)
    assert WorldParameters.sample(np.random.default_rng(7)) == WorldParameters.sample(np.random.default_rng(7))


@pytest.mark.parametrize(
    ("dosed", "anneals", "message"),
    [
        ({"BaO": 500.0, "TiO2": 500.0}, anneal(1000, 1), "dosed_mg"),
        ({"BaCO3": 0.0, "TiO2": 0.0}, anneal(1000, 1), "dosed_mg"),
        ({"BaCO3": -1.0, "TiO2": 500.0}, anneal(1000, 1), "dosed_mg"),
        ({"BaCO3": 500.0, "TiO2": 500.0}, anneal(1000, 1, "H2"), "unknown atmosphere"),
        ({"BaCO3": 500.0, "TiO2": 500.0}, anneal(1000, -1), "dwell_h"),
        ({"BaCO3": 500.0, "TiO2": 500.0}, anneal(2500, 1), "temperature_c"),
    ],
)
def test_bad_inputs_are_refused(dosed: dict[str, float], anneals: list[AnnealRecord], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WORLD.outcome(dosed, anneals)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="atmosphere_rate"):
        WorldParameters(atmosphere_rate={"air": 1.0})
    with pytest.raises(ValueError, match="intermediate_share"):
        WorldParameters(intermediate_share=1.0)
    with pytest.raises(ValueError, match="positive"):
        WorldParameters(avrami_exponent=0.0)
