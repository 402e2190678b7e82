"""Database URLs: masking parses (any character in a password), handles carry no secret and open again."""

from __future__ import annotations

import pytest

from db.engine import open_handle, open_store, store_handle
from db.errors import BadDatabaseUrl, DatabaseUnreachable
from db.urls import mask_url, parse_url

PASSWORD = "p@ss:w/rd%x"
ESCAPED = "p%40ss%3Aw%2Frd%25x"


@pytest.mark.parametrize("written", [PASSWORD, ESCAPED, "a/b", "a:b", "a@b@c", "%40", "?x#y", ""])
def test_a_password_with_any_character_is_masked_and_parsed(written: str) -> None:
    url = f"postgresql+psycopg://lab:{written}@db.example:5432/lab?sslmode=require"
    masked = mask_url(url)
    assert masked == "postgresql+psycopg://lab:***@db.example:5432/lab?sslmode=require"
    parsed = parse_url(url)
    assert (parsed.username, parsed.host, parsed.port, parsed.database) == ("lab", "db.example", 5432, "lab")
    if written in (PASSWORD, ESCAPED):
        assert parsed.password == PASSWORD


def test_masking_hides_secret_query_values_and_keeps_the_rest() -> None:
    masked = mask_url("postgresql://h/db?password=hunter2&sslpassword=k3y&sslmode=require")
    assert "hunter2" not in masked and "k3y" not in masked
    assert masked == "postgresql://h/db?password=***&sslmode=require&sslpassword=***"  # keys sorted


@pytest.mark.parametrize("url", ["sqlite:///tmp/a@b/lab.db", "sqlite://", "postgresql+psycopg://lab@h:5432/lab"])
def test_a_url_without_secrets_is_shown_as_written(url: str) -> None:
    assert mask_url(url) == url


@pytest.mark.parametrize("url", ["postgresql://:hunter2", "postgresql://lab:hunter2@h:notaport/db",
                                 "postgresql://lab:hunter2@h:5432:6543/db", "lab:hunter2@h/db"])
def test_an_unparsable_url_is_never_echoed(url: str) -> None:
    masked = mask_url(url)
    assert "hunter2" not in masked and masked in ("postgresql://***", "***")
    with pytest.raises(BadDatabaseUrl) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)


def test_a_handle_carries_no_secret_and_reopens_with_the_password(tmp_path) -> None:
    url = f"postgresql+psycopg://lab:{PASSWORD}@127.0.0.1:1/lab?sslpassword=k3y&connect_timeout=1"
    handle = store_handle(url)
    assert handle == "postgresql+psycopg://lab@127.0.0.1:1/lab?connect_timeout=1"
    for secret in (PASSWORD, ESCAPED, "k3y"):
        assert secret not in handle
    with pytest.raises(DatabaseUnreachable) as caught:  # nothing listens on port 1: the point is what was tried
        open_handle(handle)
    assert PASSWORD not in str(caught.value)
    sqlite = f"sqlite:///{tmp_path / 'lab.db'}"
    assert store_handle(sqlite) == sqlite
    store = open_handle(store_handle(sqlite))
    assert store.url == sqlite
    store.dispose()


def test_a_handle_finds_its_password_in_this_process_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import db.engine as engine

    opened: list[str] = []
    monkeypatch.setattr(engine, "open_store", lambda url: opened.append(url))
    handle = store_handle(f"postgresql://lab:{PASSWORD}@db.example/lab")  # normalised to psycopg
    assert handle == "postgresql+psycopg://lab@db.example/lab"
    open_handle(handle)
    assert parse_url(opened[-1]).password == PASSWORD
    monkeypatch.setattr(engine, "_NAMED", {})  # another process: only the environment knows it
    monkeypatch.setenv("LAB_DATABASE_URL", f"postgresql+psycopg://lab:{ESCAPED}@db.example/lab")
    open_handle(handle)
    assert parse_url(opened[-1]).password == PASSWORD
    open_handle("postgresql+psycopg://other@db.example/lab")  # not the environment's: no password (libpq's own)
    assert parse_url(opened[-1]).password is None


def test_a_url_with_its_password_is_refused_as_a_handle() -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        open_handle(f"postgresql+psycopg://lab:{PASSWORD}@db.example/lab")
    assert "store handle" in str(caught.value) and PASSWORD not in str(caught.value)
