"""Fixtures for the ledger tests: a migrated ``store`` on SQLite (a temp file) and on PostgreSQL.

PostgreSQL: ``LAB_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
names a server; the tests create their own database ``lab_test_<random>`` on it, migrate it once per
test session, empty its tables before each test and drop it at the end, so they never touch other
data. With no server answering, the PostgreSQL cases are skipped with the reason, unless
``LAB_TEST_POSTGRES_REQUIRED=1`` (set it in CI) turns that into a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import Store, open_store
from db.ledger import create_campaign
from db.models import Base
from lab.reward import RewardDefinition, RewardTerm
from lab.search_space import CategoricalParameter, ContinuousParameter, SearchSpace
from lab.state import Objective

T0 = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)


def _empty(store: Store) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    """A migrated, empty ledger: a SQLite file in ``tmp_path``, or the session's PostgreSQL database."""
    if request.param == "postgres":
        pg: Store = request.getfixturevalue("postgres_store")
        _empty(pg)
        yield pg
        return
    sqlite = open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    yield sqlite
    sqlite.dispose()


@pytest.fixture
def t0() -> datetime:
    """The start of a simulated night (aware UTC)."""
    return T0


SPACE = SearchSpace((
    ContinuousParameter("temperature_c", 700.0, 1300.0, unit="°C"),
    CategoricalParameter("atmosphere", ("air", "O2")),
))
OBJECTIVES = (Objective("target_fraction"), Objective("impurity_fraction", "minimize"))
REWARD_V1 = RewardDefinition("v1", (RewardTerm("target_fraction", 1.0),), failure_reward=-1.0)


def make_spec(budget: int | None = 10) -> dict[str, Any]:
    """A spec dict of the shape the spec loader writes."""
    return {"name": "BaTiO3", "space": SPACE.to_dict(), "objectives": [o.to_dict() for o in OBJECTIVES],
            "budget": {"experiments": budget}}


@pytest.fixture
def new_campaign(store: Store, t0: datetime) -> Callable[..., int]:
    """Create a queued campaign; returns its id. Keyword arguments override the defaults."""

    def create(**overrides: Any) -> int:
        args: dict[str, Any] = {"name": "BaTiO3 night", "spec_toml": '[campaign]\nname = "BaTiO3 night"\n',
                                "spec": make_spec(), "seed": 7, "reward": REWARD_V1, "at": t0}
        args.update(overrides)
        with store.session() as session:
            return create_campaign(session, **args)

    return create


@pytest.fixture
def reward_v1() -> RewardDefinition:
    """The campaigns' initial reward: the target phase fraction, -1 for a chemistry failure."""
    return REWARD_V1


@pytest.fixture
def spec_for() -> Callable[..., dict[str, Any]]:
    """``spec_for(budget=10)``: a spec dict of the shape the spec loader writes."""
    return make_spec
