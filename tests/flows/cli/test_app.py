"""The `lab` command: clear errors for bad input, nothing half-written, and the happy path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import db
from flows.cli.app import app
from lab.spec import example_path

runner = CliRunner()
GOOD = example_path("batio3").read_text(encoding="utf-8")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lab.db'}"


def campaigns(url: str) -> list[db.CampaignInfo]:
    store = db.open_store(url)
    with store.session() as s:
        out = db.list_campaigns(s)
    store.dispose()
    return out


def test_queue_prints_the_id_and_status_lists_it(url: str, tmp_path: Path) -> None:
    spec = tmp_path / "good.toml"
    spec.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", url])
    assert result.exit_code == 0, result.output
    cid = int(result.output.strip().splitlines()[-1])
    (info,) = campaigns(url)
    assert info.id == cid and info.status == "queued" and info.spec_toml == GOOD
    listing = runner.invoke(app, ["status", "--db", url])
    assert listing.exit_code == 0 and "BaTiO3" in listing.output and "queued" in listing.output


def test_bad_spec_is_refused_with_the_field_and_nothing_is_stored(url: str, tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(GOOD.replace("Ba = [0.35", "Xx = [0.35").replace("experiments = 24", "experiments = -1"), encoding="utf-8")
    result = runner.invoke(app, ["queue", str(spec), "--db", url])
    assert result.exit_code == 2
    assert "parameters[0].elements: unknown element 'Xx'" in result.output
    assert "budget.experiments" in result.output
    assert "Traceback" not in result.output
    assert campaigns(url) == []


def test_unknown_campaign_id_is_a_clear_error(url: str) -> None:
    result = runner.invoke(app, ["status", "999", "--db", url])
    assert result.exit_code == 2
    assert "999" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("bad_url", "words"), [
    ("mysql://root@localhost/x", "not supported"),
    ("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "127.0.0.1:1"),
    ("not a url at all", "not a database URL"),
])
def test_bad_or_unreachable_database_is_a_clear_error(bad_url: str, words: str) -> None:
    result = runner.invoke(app, ["status", "--db", bad_url])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_missing_spec_file_is_a_clear_error(url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.toml"), "--db", url])
    assert result.exit_code == 2 and "file not found" in result.output
