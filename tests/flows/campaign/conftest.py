"""Shared helpers of the campaign tests: run a worker in this process under a real lease."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import db
from flows.campaign.lease import WorkerLease
from flows.campaign.runtime import Rig
from flows.campaign.worker import Worker

RunWorker = Callable[..., list[tuple[int, str]]]


def _run_worker(store: db.Store, rig: Rig, name: str, max_campaigns: int = 4, lease_s: float = 60.0) -> list[tuple[int, str]]:
    """Run a worker named ``name`` until the queue is empty; returns what it ended."""
    with WorkerLease(store, name, lease_s=lease_s) as lease:
        return Worker(store, rig, lease, max_campaigns=max_campaigns).run(once=True)


@pytest.fixture
def run_worker() -> RunWorker:
    return _run_worker
