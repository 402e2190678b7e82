"""Shared fixtures of the campaign tests: a SQLite store, the simulated rig, a worker under a real lease."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import db
from flows.campaign.lease import WorkerLease
from flows.campaign.runtime import Rig, simulated_rig
from flows.campaign.worker import Worker
from lab.clock import DEFAULT_SIM_START
from lab.spec import InstrumentsSpec


@pytest.fixture
def store(tmp_path: Path) -> Iterator[db.Store]:
    s = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    yield s
    s.dispose()


@pytest.fixture
def rig(prefect_harness: None) -> Iterator[Rig]:
    with simulated_rig(InstrumentsSpec(), seed=3, start=DEFAULT_SIM_START) as r:
        yield r


RunWorker = Callable[..., list[tuple[int, str]]]


def _run_worker(store: db.Store, rig: Rig, name: str, max_campaigns: int = 4, lease_s: float = 60.0) -> list[tuple[int, str]]:
    """Run a worker named ``name`` until the queue is empty; returns what it ended."""
    with WorkerLease(store, name, lease_s=lease_s) as lease:
        return Worker(store, rig, lease, max_campaigns=max_campaigns).run(once=True)


@pytest.fixture
def run_worker() -> RunWorker:
    return _run_worker
