"""Campaigns: creating, listing, status changes, and claiming by workers.

Every function takes the caller's :class:`~sqlalchemy.orm.Session` first and the time explicitly
(the engine may run on a simulated clock); changes are committed when the caller's
``store.session()`` block ends.

Claiming: :func:`claim_campaign` takes a ``running`` campaign claimed under the caller's own worker
name first (a restarted worker takes its campaigns back at once; names are exclusive, see
:mod:`db.workers`), else the oldest ``queued`` campaign or ``running`` one whose lease has not been
renewed for ``stale_after_s`` seconds (its worker died). Leases are stamped on the wall clock. On PostgreSQL the
candidate row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers each get a
different campaign without waiting for one another. On SQLite the claim first takes the database's
single write lock (:func:`db.locking.lock_for_write`), so claims are serialised; that is all the
atomicity a single-file database needs.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from db.errors import CampaignNotFound, ClaimLost
from db.locking import is_postgres, lock_for_write
from db.models import CAMPAIGN_STATUSES, Campaign
from db.models import RewardDefinition as RewardDefinitionRow
from db.records import CampaignInfo
from db.types import aware_utc
from lab.reward import RewardDefinition

__all__ = [
    "hold_campaign",
    "PAUSE_MODES", "TERMINAL_CAMPAIGN_STATUSES", "claim_campaign", "create_campaign", "get_campaign", "heartbeat",
    "list_campaigns", "set_campaign_status",
]

#: Statuses a campaign does not leave on its own.
TERMINAL_CAMPAIGN_STATUSES = frozenset({"cancelled", "completed", "failed"})
#: How a campaign may be paused: ``deferred`` (experiments already started finish every step) or ``now``.
PAUSE_MODES = ("deferred", "now")


def _info(row: Campaign) -> CampaignInfo:
    return CampaignInfo(
        id=row.id, name=row.name, status=row.status, spec=copy.deepcopy(row.spec), spec_toml=row.spec_toml,
        seed=int(row.seed), reward_version=row.reward_version, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at, claimed_by=row.claimed_by, heartbeat_at=row.heartbeat_at,
        approval_required=bool(row.approval_required), pause_mode=row.pause_mode,
    )


def campaign_row(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    """The campaign's row (for use inside :mod:`db` only).

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    query = select(Campaign).where(Campaign.id == campaign_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise CampaignNotFound(campaign_id)
    return row


def create_campaign(session: Session, *, name: str, spec_toml: str, spec: dict[str, Any], seed: int,
                    reward: RewardDefinition, approval_required: bool = False, at: datetime) -> int:
    """Queue a new campaign with its first reward definition; returns its id.

    Args:
        spec_toml: the spec file as submitted (kept verbatim for the record).
        spec: the parsed spec (must be JSON-able; see :mod:`db.state` for the keys it reads).
        reward: the initial reward definition; its version becomes the active one.
        approval_required: whether each decision waits for a scientist's approval.
    """
    at = aware_utc(at)
    row = Campaign(name=name, status="queued", spec_toml=spec_toml, spec=dict(spec), seed=int(seed),
                   reward_version=reward.version, created_at=at, started_at=None, finished_at=None,
                   claimed_by=None, heartbeat_at=None, approval_required=bool(approval_required))
    session.add(row)
    session.flush()
    session.add(RewardDefinitionRow(campaign_id=row.id, version=reward.version, definition=reward.to_dict(), created_at=at))
    session.flush()
    return row.id


def get_campaign(session: Session, campaign_id: int) -> CampaignInfo:
    """The campaign with this id.

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    return _info(campaign_row(session, campaign_id))


def list_campaigns(session: Session, status: str | None = None) -> list[CampaignInfo]:
    """All campaigns (or those with ``status``), oldest first."""
    query = select(Campaign).order_by(Campaign.id)
    if status is not None:
        _check_status(status)
        query = query.where(Campaign.status == status)
    return [_info(r) for r in session.scalars(query)]


def _check_status(status: str) -> None:
    if status not in CAMPAIGN_STATUSES:
        raise ValueError(f"unknown campaign status {status!r}; expected one of {', '.join(CAMPAIGN_STATUSES)}")


def set_campaign_status(session: Session, campaign_id: int, status: str, at: datetime,
                        pause_mode: str | None = None) -> CampaignInfo:
    """Set a campaign's status; returns the updated campaign.

    ``running`` sets ``started_at`` (first time only); ``cancelled``/``completed``/``failed`` set
    ``finished_at``. Any status but ``running`` clears the worker claim, so ``queued`` (re)queues it
    for any worker and ``paused`` keeps workers off it. ``pause_mode`` is kept with ``paused``
    (one of :data:`PAUSE_MODES`) and cleared by any other status.

    Raises:
        ValueError: unknown status name, or a pause mode not in :data:`PAUSE_MODES`.
        CampaignNotFound: no campaign has this id.
    """
    _check_status(status)
    if pause_mode is not None and pause_mode not in PAUSE_MODES:
        raise ValueError(f"unknown pause mode {pause_mode!r}; expected one of {', '.join(PAUSE_MODES)}")
    at = aware_utc(at)
    row = campaign_row(session, campaign_id, for_update=True)
    row.status = status
    row.pause_mode = pause_mode if status == "paused" else None
    if status == "running" and row.started_at is None:
        row.started_at = at
    if status in TERMINAL_CAMPAIGN_STATUSES:
        row.finished_at = at
    if status != "running":
        row.claimed_by = None
        row.heartbeat_at = None
    session.flush()
    return _info(row)


def claim_campaign(session: Session, worker_id: str, at: datetime, stale_after_s: float = 300.0,
                   held: Collection[int] | None = None) -> CampaignInfo | None:
    """Atomically claim the oldest claimable campaign for ``worker_id``; ``None`` if there is none.

    Claimable: ``queued``; when ``held`` is given (the ids this process runs), ``running`` and claimed
    by ``worker_id`` itself but not in ``held`` (a restart); or ``running`` with no heartbeat for
    ``stale_after_s`` seconds (``at`` and heartbeats are wall-clock times). The worker's own
    campaigns come first, then the oldest: a restarted worker that filled its ``max_campaigns`` with
    others' lapsed campaigns would leave one of its own claimed under its name, its lease renewed
    by :func:`db.workers.renew_worker` and run by nobody. The
    claimed campaign becomes ``running`` with ``claimed_by=worker_id`` and ``heartbeat_at=at``. The
    claim is final when the caller's session commits (keep that session short).
    """
    at = aware_utc(at)
    stale_before = at - timedelta(seconds=stale_after_s)
    lapsed = or_(Campaign.heartbeat_at.is_(None), Campaign.heartbeat_at < stale_before)
    if held is not None:
        lapsed = or_(lapsed, and_(Campaign.claimed_by == worker_id, Campaign.id.not_in(list(held))))
    claimable = or_(Campaign.status == "queued", and_(Campaign.status == "running", lapsed))
    own_first = case((and_(Campaign.status == "running", Campaign.claimed_by == worker_id), 0), else_=1)
    query = (select(Campaign).where(claimable).order_by(own_first, Campaign.created_at, Campaign.id).limit(1)
             .execution_options(populate_existing=True))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    else:
        lock_for_write(session, "claim_campaign")
    row = session.scalars(query).first()
    if row is None:
        return None
    row.status = "running"
    row.claimed_by = worker_id
    row.heartbeat_at = at
    if row.started_at is None:
        row.started_at = at
    session.flush()
    return _info(row)


def heartbeat(session: Session, campaign_id: int, worker_id: str, at: datetime) -> None:
    """Record that ``worker_id`` is still running the campaign.

    Raises:
        CampaignNotFound: no campaign has this id.
        ClaimLost: the campaign is not running under this worker any more (stop working on it).
    """
    at = aware_utc(at)
    row = campaign_row(session, campaign_id, for_update=True)
    if row.status != "running" or row.claimed_by != worker_id:
        holder = f"worker {row.claimed_by!r}" if row.claimed_by else "no worker"
        raise ClaimLost(f"campaign {campaign_id} is {row.status} and held by {holder}, not {worker_id!r}; stop working on it")
    row.heartbeat_at = at
    session.flush()


def hold_campaign(session: Session, campaign_id: int, worker_id: str, at: datetime, stale_after_s: float = 300.0) -> bool:
    """Claim or keep a *running* campaign for ``worker_id``; False if another live worker holds it.

    Used on every engine tick: a campaign resumed after a pause (running, no holder) is taken back;
    one held by a worker whose heartbeat is older than ``stale_after_s`` seconds is taken over.
    The row is locked for the check (``FOR UPDATE`` on PostgreSQL).

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    at = aware_utc(at)
    row = campaign_row(session, campaign_id, for_update=True)
    if row.status != "running":
        return False
    heartbeat = row.heartbeat_at
    stale = heartbeat is None or heartbeat < at - timedelta(seconds=stale_after_s)
    if row.claimed_by not in (None, worker_id) and not stale:
        return False
    row.claimed_by = worker_id
    row.heartbeat_at = at
    session.flush()
    return True
