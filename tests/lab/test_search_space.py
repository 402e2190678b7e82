"""Search spaces: encoding round trips, decoding is always feasible, compositions keep their sum."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.errors import SearchSpaceError
from lab.search_space import (
    CategoricalParameter,
    CompositionParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
)

SPACE = SearchSpace((
    CompositionParameter("cations", (("Ba", 0.35, 0.65), ("Ti", 0.35, 0.65))),
    ContinuousParameter("temperature_c", 700.0, 1350.0, "°C"),
    IntegerParameter("dwell_h", 1, 8),
    CategoricalParameter("atmosphere", ("air", "O2", "N2")),
))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-0.5, max_value=1.5, allow_nan=False), min_size=SPACE.dim, max_size=SPACE.dim))
def test_decode_of_any_vector_is_feasible(features: list[float]) -> None:
    params = SPACE.decode(features)
    SPACE.check(params)  # raises if infeasible
    assert abs(sum(params["cations"].values()) - 1.0) < 1e-6


def test_encode_decode_round_trip() -> None:
    for params in SPACE.sample(random.Random(3), 50):
        again = SPACE.decode(SPACE.encode(params))
        assert again["atmosphere"] == params["atmosphere"]
        assert again["dwell_h"] == params["dwell_h"]
        assert again["temperature_c"] == pytest.approx(params["temperature_c"])
        assert again["cations"]["Ba"] == pytest.approx(params["cations"]["Ba"], abs=1e-5)


def test_three_element_composition_respects_bounds() -> None:
    comp = CompositionParameter("x", (("Ni", 0.0, 0.5), ("Fe", 0.1, 0.6), ("Co", 0.0, 1.0)))
    value = comp.decode([1.0, 1.0, 1.0])
    assert sum(value.values()) == pytest.approx(1.0, abs=1e-5)
    assert value["Ni"] <= 0.5 + 1e-9 and value["Fe"] >= 0.1 - 1e-9
    assert comp.composition(value).reduced_formula  # a real pymatgen Composition


def test_infeasible_composition_bounds_are_refused() -> None:
    with pytest.raises(SearchSpaceError, match="no composition satisfies"):
        CompositionParameter("x", (("Ba", 0.0, 0.3), ("Ti", 0.0, 0.3)))


@pytest.mark.parametrize("bad", [
    {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 2000.0, "dwell_h": 2, "atmosphere": "air"},
    {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 900.0, "dwell_h": 2.5, "atmosphere": "air"},
    {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 900.0, "dwell_h": 2, "atmosphere": "H2"},
    {"cations": {"Ba": 0.7, "Ti": 0.3}, "temperature_c": 900.0, "dwell_h": 2, "atmosphere": "air"},
    {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 900.0, "dwell_h": 2},
])
def test_check_refuses_out_of_space_values(bad: dict) -> None:
    with pytest.raises(SearchSpaceError):
        SPACE.check(bad)


def test_space_dict_round_trip() -> None:
    assert SearchSpace.from_dict(SPACE.to_dict()) == SPACE


def test_decoded_compositions_of_many_elements_sum_exactly() -> None:
    comp = CompositionParameter("x", tuple((e, 0.0, 0.6) for e in ("Ni", "Fe", "Co", "Mn", "Ce")))
    rng = random.Random(0)
    for _ in range(500):
        comp.check(comp.decode([rng.random() for _ in range(5)]))
