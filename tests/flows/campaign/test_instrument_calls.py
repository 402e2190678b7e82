"""Status reads: retried like commands, refused at once, and never a Prefect task run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.campaign import instrument_calls as calls
from instruments.errors import GarbledReply, InstrumentTimeout, UnknownJob
from instruments.protocol import InstrumentStatus


class Flaky:
    """Answers ``job_status`` after ``failures`` transient errors (or raises ``error`` every time)."""

    name = "furnace-1"

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures, self.error, self.asked = failures, error, 0

    def job_status(self, job_key: str) -> InstrumentStatus:
        self.asked += 1
        if self.error is not None:
            raise self.error
        if self.asked <= self.failures:
            raise (InstrumentTimeout if self.asked % 2 else GarbledReply)(f"try {self.asked}")
        return InstrumentStatus("busy", job_key=job_key, seconds_left=60.0)


@pytest.fixture(autouse=True)
def no_waiting() -> Iterator[None]:
    saved = list(calls.RETRY_DELAYS)
    calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]
    yield
    calls.RETRY_DELAYS[:] = saved


def test_transient_trouble_is_retried_until_the_device_answers() -> None:
    furnace = Flaky(failures=3)
    status = calls.job_status(furnace, "S-1:furnace")  # type: ignore[arg-type]
    assert (status.state, status.job_key, furnace.asked) == ("busy", "S-1:furnace", 4)


def test_trouble_that_outlasts_the_retries_is_raised_after_one_try_per_delay() -> None:
    furnace = Flaky(failures=10)
    with pytest.raises(GarbledReply, match="try 4"):
        calls.job_status(furnace, "S-1:furnace")  # type: ignore[arg-type]
    assert furnace.asked == len(calls.RETRY_DELAYS) + 1


def test_a_refusal_is_raised_at_once() -> None:
    furnace = Flaky(error=UnknownJob(202, "no such job"))
    with pytest.raises(UnknownJob):
        calls.job_status(furnace, "S-1:furnace")  # type: ignore[arg-type]
    assert furnace.asked == 1


def test_a_status_read_needs_no_prefect_run_context() -> None:
    """Outside any flow, a task run would need a Prefect server; a read answers without one."""
    from prefect.context import TaskRunContext

    seen: list[object] = []

    class Probe(Flaky):
        def job_status(self, job_key: str) -> InstrumentStatus:
            seen.append(TaskRunContext.get())
            return super().job_status(job_key)

    calls.job_status(Probe(), "S-1:furnace")  # type: ignore[arg-type]
    assert seen == [None]
