"""The solid-state workflow: masses from cation fractions, steps from parameters."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from lab.spec import WorkflowSpec
from lab.workflow import objectives_from_phases, plan_steps, precursor_masses


def test_masses_give_the_requested_cation_ratio() -> None:
    masses = precursor_masses({"Ba": 0.4, "Ti": 0.6}, {"Ba": "BaCO3", "Ti": "TiO2"}, 1000.0)
    assert sum(masses.values()) == pytest.approx(1000.0, abs=0.01)
    mol_ba = masses["BaCO3"] / Composition("BaCO3").weight
    mol_ti = masses["TiO2"] / Composition("TiO2").weight
    assert mol_ba / (mol_ba + mol_ti) == pytest.approx(0.4, abs=1e-4)


def test_steps_carry_the_parameters() -> None:
    params = {"cations": {"Ba": 0.5, "Ti": 0.5}, "temperature_c": 1150.0, "dwell_h": 6, "atmosphere": "O2"}
    dose, anneal, xrd = plan_steps(params, WorkflowSpec())
    assert (dose.instrument_kind, anneal.instrument_kind, xrd.instrument_kind) == ("dosing", "furnace", "xrd")
    assert anneal.command["temperature_c"] == 1150.0 and anneal.command["atmosphere"] == "O2"
    assert anneal.command["dwell_h"] == 6.0


def test_objectives_split_target_unreacted_and_impurity() -> None:
    obj = objectives_from_phases({"BaTiO3": 0.6, "BaCO3": 0.1, "TiO2": 0.1, "Ba2TiO4": 0.2}, 0.05, "BaTiO3")
    assert obj["target_fraction"] == 0.6
    assert obj["unreacted_fraction"] == pytest.approx(0.2)
    assert obj["impurity_fraction"] == pytest.approx(0.2)
