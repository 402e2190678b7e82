"""Opening the store: URLs, connection failures, SQLite settings, sessions and time zones."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import Store, default_url, open_store
from db.errors import BadDatabaseUrl, ConflictingRecord, DatabaseUnreachable, StoreError
from db.ledger import create_campaign, get_campaign, list_campaigns
from db.models import Experiment


def test_default_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_DATABASE_URL", "postgresql+psycopg://lab@db.example:5432/lab")
    assert default_url() == "postgresql+psycopg://lab@db.example:5432/lab"


def test_default_url_is_a_sqlite_file_under_lab_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{(tmp_path / 'home' / 'lab.db').resolve()}"
    assert (tmp_path / "home").is_dir()


def test_default_lab_home_is_dot_lab_in_the_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("LAB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{(tmp_path / '.lab' / 'lab.db').resolve()}"
    assert (tmp_path / ".lab").is_dir()


@pytest.mark.parametrize("url", ["mysql://lab:secret@db.example/lab", "postgresql+psycopg2://lab:secret@h/db",
                                 "not a url at all", "postgresql+psycopg:///db_without_host"])
def test_bad_urls_are_refused_with_what_was_expected(url: str) -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        open_store(url)
    message = str(caught.value)
    assert "sqlite:///path/lab.db or postgresql+psycopg://user@host:5432/db" in message
    assert "secret" not in message
    assert isinstance(caught.value, ValueError)


def test_unreachable_postgres_fails_fast_with_the_masked_url() -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable) as caught:
        open_store("postgresql+psycopg://lab:secret@127.0.0.1:1/lab")
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "***" in message and "secret" not in message
    assert "PostgreSQL server is running" in message
    assert isinstance(caught.value, ConnectionError)


def test_sqlite_in_a_missing_folder_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnreachable, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'lab.db'}")


def test_plain_postgresql_scheme_means_psycopg(postgres_url: str) -> None:
    store = open_store(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert store.dialect == "postgresql"
        assert store.engine.dialect.driver == "psycopg"
    finally:
        store.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert store.dialect == "sqlite"
    finally:
        store.dispose()


def test_times_come_back_aware_utc(store: Store, reward_v1, spec_for) -> None:
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 1, 5, 23, 30, 15, 123456, tzinfo=paris)
    with store.session() as s:
        cid = create_campaign(s, name="tz", spec_toml="", spec=spec_for(), seed=1, reward=reward_v1, at=at)
    with store.session() as s:
        created = get_campaign(s, cid).created_at
    assert created == at
    assert created.tzinfo == timezone.utc
    assert created.hour == 22 and created.microsecond == 123456


def test_naive_times_are_refused(store: Store, reward_v1, spec_for) -> None:
    with pytest.raises(ValueError, match="naive"):
        with store.session() as s:
            create_campaign(s, name="naive", spec_toml="", spec=spec_for(), seed=1, reward=reward_v1,
                            at=datetime(2026, 1, 5, 22, 0))


def test_a_session_rolls_back_on_error(store: Store, reward_v1, spec_for, t0: datetime) -> None:
    with pytest.raises(RuntimeError):
        with store.session() as s:
            create_campaign(s, name="doomed", spec_toml="", spec=spec_for(), seed=1, reward=reward_v1, at=t0)
            raise RuntimeError("boom")
    with store.session() as s:
        assert list_campaigns(s) == []


def test_database_errors_come_out_as_store_errors(store: Store, t0: datetime) -> None:
    with pytest.raises(ConflictingRecord) as caught:
        with store.session() as s:  # a foreign key to nothing
            s.add(Experiment(campaign_id=999, decision_id=999, params={}, log_prob=0.0, state="proposed", proposed_at=t0))
    assert isinstance(caught.value, StoreError)
    assert caught.value.__cause__ is not None


def test_nan_in_json_is_refused_on_both_engines(store: Store, reward_v1, spec_for, t0: datetime) -> None:
    spec = spec_for()
    spec["note"] = float("nan")
    with pytest.raises(ValueError, match="cannot store NaN"):
        with store.session() as s:
            create_campaign(s, name="nan", spec_toml="", spec=spec, seed=1, reward=reward_v1, at=t0)
