"""`lab bench crash` scenarios: options that go together, defaults that depend on others, one line per problem."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.bench.crash_options import DEFAULT_LEASE_S, crash_options
from flows.errors import FlowError

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_defaults_one_worker_one_campaign() -> None:
    opts = crash_options()
    assert (opts.kills, opts.workers, opts.campaigns, opts.max_campaigns, opts.lease_s) == (20, 1, 1, 1, DEFAULT_LEASE_S)
    assert (opts.lab_kills, opts.db_drops, opts.pg_restart, opts.postgres) == (0, 0, 0, False)


@pytest.mark.parametrize(("workers", "campaigns", "expected"), [(2, None, (3, 2)), (4, None, (5, 2)), (2, 2, (2, 1)),
                                                                 (3, 7, (7, 3))])
def test_several_workers_get_more_campaigns_than_workers_and_room_to_take_over(workers: int, campaigns: int | None,
                                                                             expected: tuple[int, int]) -> None:
    opts = crash_options(workers=workers, campaigns=campaigns)
    assert (opts.campaigns, opts.max_campaigns) == expected


def test_database_disruptions_need_postgresql() -> None:
    assert crash_options(db_drops=2, db_url=PG).postgres
    assert crash_options(db_drops=2, pg_restart=1).postgres
    with pytest.raises(FlowError, match="--db-drops terminates PostgreSQL connections"):
        crash_options(db_drops=1)
    with pytest.raises(FlowError, match="--db-drops"):
        crash_options(db_drops=1, db_url="sqlite:////tmp/x.db")
    with pytest.raises(FlowError, match="leave out --db"):
        crash_options(pg_restart=1, db_url=PG)


def test_every_problem_is_named_in_one_message() -> None:
    with pytest.raises(FlowError) as caught:
        crash_options(kills=0, workers=3, campaigns=2, lease_s=2.0, lab_kills=-1, db_url="mysql://x/y")
    message = str(caught.value)
    for part in ("--kills 0", "--campaigns 2", "--lease-s 2", "--lab-kills -1", "--db: expected"):
        assert part in message


def test_the_command_refuses_a_bad_scenario_before_starting_anything() -> None:
    from flows.cli.app import app

    result = CliRunner().invoke(app, ["bench", "crash", "--db-drops", "1", "--kills", "1"])
    assert result.exit_code == 2 and "--db-drops terminates PostgreSQL connections" in result.output
    result = CliRunner().invoke(app, ["bench", "crash", "--workers", "0"])
    assert result.exit_code == 2
