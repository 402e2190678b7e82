"""Reward files for `lab relabel`: read, validated, refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.campaign.control import load_reward_file
from lab.errors import SpecError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reward.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_reward_file_gives_its_definition(tmp_path: Path) -> None:
    reward = load_reward_file(write(tmp_path, 'version = "v2"\nfailure_reward = -0.5\n'
                                              'terms = [{ objective = "target_fraction" }, { objective = "unreacted_fraction", weight = 2.0 }]\n'))
    assert reward.version == "v2" and reward.failure_reward == -0.5 and reward.convention == "sense"
    # unreacted_fraction is not among the directions given: its own sense (minimised) penalises it
    assert reward.compute({"target_fraction": 0.9, "unreacted_fraction": 0.1}, {}) == pytest.approx(0.7)


@pytest.mark.parametrize(("text", "problem"), [
    ('version = "v2"\nterms = [{ objective = "yield" }]\n', "terms[0].objective: 'yield' is not measured"),
    ('version = "v2"\n', "terms: give at least one"),
    ('version = "v2"\nterms = [{ objective = "target_fraction", weight = "heavy" }]\n', "terms[0].weight"),
    ('version = "v2"\nterms = [{ objective = "target_fraction" }]\nbonus = 1\n', "bonus: unknown field"),
    ("version = \n", "not valid TOML"),
    ('version = "v2"\nterms = [{ objective = "impurity_fraction", weight = -0.5 }]\n',
     "terms[0].weight: weight -0.5 on impurity_fraction (minimised) would reward impurity_fraction; weights are "
     "importance: write 0.5, the sense comes from the objective"),
])
def test_a_bad_reward_file_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        load_reward_file(write(tmp_path, text))
    assert any(p.startswith(problem) or problem in p for p in info.value.problems), info.value.problems


def test_a_field_problem_and_a_term_problem_come_in_one_pass(tmp_path: Path) -> None:
    text = ('version = "v2"\nbonus = 1\nterms = [{ objective = "yield" }, { objective = "impurity_fraction", weight = -0.5 },'
            ' { objective = "target_fraction", weight = "heavy" }]\n')
    with pytest.raises(SpecError) as info:
        load_reward_file(write(tmp_path, text))
    assert [p.split(":", 1)[0] for p in info.value.problems] == ["terms[2].weight", "bonus", "terms[0].objective",
                                                                  "terms[1].weight"], info.value.problems
