"""The keep-alive thread: renews on the wall clock, lets go of a hung loop, and notices a taken name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import db
from flows.campaign.lease import WorkerLease
from lab.clock import WallClock


def _wait(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_lease_is_renewed_from_its_own_thread_and_given_up_on_release(tmp_path: Path) -> None:
    store = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    with WorkerLease(store, "w", lease_s=0.4) as lease:
        with store.session() as s:
            first = db.get_worker(s, "w").renewed_at

        def renewed() -> bool:
            lease.round_done()
            with store.session() as s:
                return db.get_worker(s, "w").renewed_at > first
        _wait(renewed)
    with store.session() as s:
        assert db.get_worker(s, "w") is None
    store.dispose()


def test_a_worker_whose_loop_stalls_stops_renewing(tmp_path: Path) -> None:
    store = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    with WorkerLease(store, "w", lease_s=0.4, stall_s=0.3):
        time.sleep(1.2)  # no round_done(): the loop looks hung
        with store.session() as s:
            age = (WallClock().now() - db.get_worker(s, "w").renewed_at).total_seconds()
    assert age >= 0.8
    store.dispose()


def test_a_name_taken_by_another_process_is_noticed_and_not_given_up(tmp_path: Path) -> None:
    store = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    lease = WorkerLease(store, "w", lease_s=0.4)
    lease.acquire()
    with store.session() as s:  # another process took the name after this one's lease lapsed
        db.register_worker(s, "w", token="thief", host="elsewhere", pid=1, at=WallClock().now(), lease_s=60,
                           is_gone=lambda holder: True)
    _wait(lambda: not lease.alive())
    assert "elsewhere" in (lease.lost or "")
    lease.release()
    with store.session() as s:
        assert db.get_worker(s, "w").token == "thief"
    with pytest.raises(db.WorkerNameTaken):
        with store.session() as s:
            db.register_worker(s, "w", token="late", host="h", pid=2, at=WallClock().now(), lease_s=1)
    store.dispose()
