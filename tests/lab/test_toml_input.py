"""Reading user TOML within bounds: size, binary, nesting, NaN/inf and 64-bit integers, all in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import SpecError
from lab.spec import example_path, load_spec, parse_spec
from lab.toml_input import MAX_FILE_BYTES, read_toml, tree_problems

GOOD = example_path("batio3").read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    return info.value.problems


@pytest.mark.parametrize(("old", "new", "field"), [
    ("weight = 1.0", "weight = nan", "reward.terms[0].weight: expected a finite number"),
    ("weight = 1.0", "weight = inf", "reward.terms[0].weight: expected a finite number"),
    ("seed = 7", "seed = -inf", "seed: expected a finite number"),
    ("seed = 7", "seed = 9223372036854775808", "seed: expected an integer between 0 and 9223372036854775807"),
    ("seed = 7", "seed = -1", "seed: Input should be greater than or equal to 0"),
])
def test_values_no_store_holds_are_refused_naming_the_field(old: str, new: str, field: str) -> None:
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new))
    assert len(found) == 1 and found[0].startswith(field), found


def test_the_largest_seed_is_accepted() -> None:
    assert parse_spec(GOOD.replace("seed = 7", "seed = 9223372036854775807")).seed == 2**63 - 1


def test_nan_in_free_options_and_every_problem_in_one_pass() -> None:
    text = GOOD.replace("seed = 7", "seed = nan").replace("[policy]", "[policy]\noptions = { x = [1, inf] }", 1)
    text = text.replace("weight = 1.0", "weight = 1.0, extra = 3")
    found = problems_of(text)
    assert any(p.startswith("seed:") for p in found) and any(p.startswith("policy.options.x[1]:") for p in found)
    assert any("extra" in p and "unknown field" in p for p in found)
    assert len({p.split(":")[0] for p in found}) == len(found)  # each field named once


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 3000 + "1" + "}" * 3000,
                                  ".".join(f"k{i}" for i in range(100)) + " = 1", "a = " + "1" * 5000])
def test_deep_nesting_and_huge_numbers_are_one_line_not_a_recursion(text: str) -> None:
    found = problems_of(text)
    assert len(found) == 1 and ("nested deeper than 32" in found[0] or "not valid TOML" in found[0]), found


def test_binary_large_and_non_utf8_files(tmp_path: Path) -> None:
    cases = {"bin.toml": bytes(range(256)), "latin.toml": "name = 'caf\xe9'".encode("latin-1"),
             "big.toml": b"# " + b"x" * MAX_FILE_BYTES}
    expected = {"bin.toml": "binary", "latin.toml": "not UTF-8", "big.toml": "larger than"}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(SpecError) as info:
            load_spec(tmp_path / name)
        assert expected[name] in info.value.problems[0] and "campaign spec" in str(info.value)


def test_what_the_file_is_names_it(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text("[[instrument]\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        read_toml(tmp_path / "lab.toml", "lab file")
    assert str(info.value).startswith(f"{tmp_path / 'lab.toml'} is not a valid lab file")


def test_tree_problems_walks_any_depth_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert tree_problems({"a": deep}) == ["a" + "[0]" * 31 + ": nested deeper than 32 levels of tables or arrays"]


def test_integer_parameter_bounds_and_continuous_span() -> None:
    text = GOOD.replace('type = "continuous"', 'type = "continuous"', 1)
    assert parse_spec(text)
    wide = ('[[parameters]]\nname = "w"\ntype = "continuous"\nlow = -1e308\nhigh = 1e308\n'
            '[[parameters]]\nname = "i"\ntype = "integer"\nlow = 0\nhigh = 9007199254740993\n')
    found = problems_of(GOOD.replace("[[parameters]]", wide + "[[parameters]]", 1))
    assert any(p.startswith("parameters[0]") and "finite" in p for p in found), found
    assert any(p.startswith("parameters[1].high") for p in found), found
