"""Worker names held under a lease on the wall clock.

A ``lab worker`` takes a name (``--name``, by default the host name) with
:func:`register_worker`; campaigns it claims carry that name in ``claimed_by``. The name is
exclusive: a second process asking for it while the holder is alive and renewing its lease is
refused (:class:`~db.errors.WorkerNameTaken`), so a restarted worker may take back the campaigns
claimed under its name at once, knowing no other process runs them. A name whose lease has
expired, or whose holder the caller knows is gone (same host, process no longer running), is
taken over. :func:`renew_worker` renews the lease, and the campaign leases of every running
campaign claimed under the name, in one transaction; it raises
:class:`~db.errors.WorkerLeaseLost` when another process now holds the name.

All times are wall-clock UTC, never a campaign's (possibly simulated) clock.

Example:
    >>> from datetime import datetime, timezone
    >>> from db.engine import open_store
    >>> store = open_store("sqlite://")
    >>> t0 = datetime(2026, 12, 2, 22, 0, tzinfo=timezone.utc)
    >>> with store.session() as s:
    ...     w = register_worker(s, "bench-1", token="a", host="h", pid=1, at=t0, lease_s=60)
    >>> with store.session() as s:
    ...     register_worker(s, "bench-1", token="b", host="h", pid=2, at=t0, lease_s=60)
    Traceback (most recent call last):
    ...
    db.errors.WorkerNameTaken: worker name 'bench-1' is held by pid 1 on h (lease renewed 0 s ago, expires in 60 s); give this worker another --name
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.errors import WorkerLeaseLost, WorkerNameTaken
from db.locking import is_postgres, lock_for_write
from db.models import Campaign, Worker
from db.records import WorkerInfo
from db.types import aware_utc

__all__ = ["check_worker_name", "get_worker", "register_worker", "renew_worker", "retire_worker"]


def _info(row: Worker) -> WorkerInfo:
    return WorkerInfo(row.name, row.token, row.host, int(row.pid), row.started_at, row.renewed_at, float(row.lease_s))


def _row(session: Session, name: str) -> Worker | None:
    query = select(Worker).where(Worker.name == name).execution_options(populate_existing=True)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalars(query).first()


def get_worker(session: Session, name: str) -> WorkerInfo | None:
    """Who holds the worker name ``name`` (``None``: nobody has taken it, or its holder retired)."""
    row = session.scalars(select(Worker).where(Worker.name == name)).first()
    return None if row is None else _info(row)


def register_worker(session: Session, name: str, *, token: str, host: str, pid: int, at: datetime, lease_s: float,
                    is_gone: Callable[[WorkerInfo], bool] = lambda holder: False) -> WorkerInfo:
    """Take the worker name ``name`` for the process ``token`` (``host``, ``pid``).

    Args:
        at: now, on the wall clock.
        lease_s: how long this worker's lease lasts after each renewal (seconds); a current holder's
            own lease length decides whether its lease is live.
        is_gone: whether a current holder is known dead (e.g. same host and its pid no longer runs);
            such a holder's name is taken at once, without waiting for its lease to expire.

    Raises:
        WorkerNameTaken: another process holds the name, its lease is live and it is not known gone.
    """
    at = aware_utc(at)
    lock_for_write(session, f"worker:{name}")
    row = _row(session, name)
    if row is not None and row.token != token:
        _refuse_if_live(_info(row), at, is_gone)
    if row is None:
        row = Worker(name=name, token=token, host=host, pid=int(pid), started_at=at, renewed_at=at, lease_s=float(lease_s))
        session.add(row)
    else:
        row.token, row.host, row.pid, row.started_at, row.renewed_at = token, host, int(pid), at, at
        row.lease_s = float(lease_s)
    session.flush()
    return _info(row)


def check_worker_name(session: Session, name: str, at: datetime,
                      is_gone: Callable[[WorkerInfo], bool] = lambda holder: False) -> None:
    """Refuse ``name`` now if a live process holds it; reads only, takes no lock.

    A pre-flight for callers that would rather fail before a slow start-up: :func:`register_worker`
    still decides, under its lock (a name free here may be taken before it is registered).

    Raises:
        WorkerNameTaken: as :func:`register_worker` would.
    """
    holder = get_worker(session, name)
    if holder is not None:
        _refuse_if_live(holder, aware_utc(at), is_gone)


def _refuse_if_live(holder: WorkerInfo, at: datetime, is_gone: Callable[[WorkerInfo], bool]) -> None:
    age = (at - holder.renewed_at).total_seconds()
    if age < holder.lease_s and not is_gone(holder):
        raise WorkerNameTaken(f"worker name {holder.name!r} is held by pid {holder.pid} on {holder.host} (lease "
                              f"renewed {max(age, 0):.0f} s ago, expires in {holder.lease_s - max(age, 0):.0f} s); "
                              f"give this worker another --name")


def renew_worker(session: Session, name: str, token: str, at: datetime) -> int:
    """Renew the lease on ``name`` and on every running campaign claimed under it; returns how many campaigns.

    Raises:
        WorkerLeaseLost: another process holds the name now (this one's lease expired and was taken over).
    """
    at = aware_utc(at)
    row = _row(session, name)
    if row is None or row.token != token:
        holder = "nobody" if row is None else f"pid {row.pid} on {row.host}"
        raise WorkerLeaseLost(f"worker name {name!r} is now held by {holder}; this worker stops touching its campaigns")
    row.renewed_at = at
    result = session.execute(update(Campaign).where(Campaign.claimed_by == name, Campaign.status == "running")
                             .values(heartbeat_at=at).execution_options(synchronize_session=False))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def retire_worker(session: Session, name: str, token: str, at: datetime) -> None:
    """Give the name up on a clean stop (only if ``token`` still holds it); its campaigns' leases lapse at once.

    The campaigns stay ``running`` and claimed under ``name``, so the same name takes them back on
    restart; their leases are dated back so another worker may take them over at once.
    """
    at = aware_utc(at)
    row = _row(session, name)
    if row is None or row.token != token:
        return
    session.delete(row)
    session.execute(update(Campaign).where(Campaign.claimed_by == name, Campaign.status == "running")
                    .values(heartbeat_at=at - timedelta(days=3650)).execution_options(synchronize_session=False))
    session.flush()
