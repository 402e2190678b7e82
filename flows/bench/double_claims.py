"""Double claims: moments when two workers acted on one campaign at once, read from the intent log.

Every intent a worker commits is logged with its worker name and the wall clock
(:func:`db.list_intents`; ``step_intents``, written by :func:`db.claim_step_intent`). Within one
campaign, take the intents in wall-clock order and look at each pair of consecutive intents sent
under different worker names, ``gap_s`` wall-clock seconds apart:

* a **double claim** when ``gap_s < lease_s / 2``: two workers were acting on the campaign within
  half a lease of each other;
* a **handover** otherwise (one worker's lease lapsed and another took the campaign over; the
  report counts them, to show the bench exercised takeovers).

Why half a lease catches a real bug and never a legitimate handover: a worker may take over a
campaign claimed under another name only once that name's lease has lapsed, ``lease_s`` seconds
after its last renewal, and a live worker renews its lease at least every ``lease_s / 4`` seconds
(its lease thread) and at the start of every tick (:func:`db.hold_campaign`). So between the old
worker's last intent and the new worker's first, at least ``3/4 lease_s`` pass, unless the old
worker went on sending after its lease lapsed, or the new one claimed a live lease: the bugs this
looks for. Names are exclusive (:mod:`db.workers`), so intents under *one* name are one process at
a time and never a double claim; a restarted worker taking its own campaigns back is no handover.
The check finds concurrent activity whenever the two workers' intents come within half a lease of
each other, which at a campaign's pace (an intent every few seconds of real time in the bench) is
soon after both act.

Example:
    >>> from datetime import datetime, timedelta, timezone
    >>> import db
    >>> t = datetime(2026, 12, 2, 16, 0, tzinfo=timezone.utc)
    >>> def intent(i, worker, s):
    ...     return db.StepIntentInfo(i, i, 1, f"k{i}", worker, "doser", 1, t, t + timedelta(seconds=s))
    >>> audit = audit_claims([intent(1, "a", 0), intent(2, "b", 5), intent(3, "b", 300)], lease_s=120)
    >>> [(c.first_worker, c.second_worker, c.gap_s) for c in audit.double_claims]
    [('a', 'b', 5.0)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import db

__all__ = ["ClaimAudit", "DoubleClaim", "audit_claims", "read_intents"]

#: What an intent sent by no named worker is called in the report.
UNNAMED = "(unnamed)"


@dataclass(frozen=True)
class DoubleClaim:
    """Two consecutive intents of one campaign from different workers (a double claim or a handover).

    Attributes:
        campaign_id: the campaign.
        first_worker, second_worker: the worker names, in wall-clock order.
        first_key, second_key: the steps' idempotency keys.
        gap_s: wall-clock seconds between the two intents.
        second_wall_at: when the second intent was committed (ISO, wall clock, UTC).
    """

    campaign_id: int
    first_worker: str
    second_worker: str
    first_key: str
    second_key: str
    gap_s: float
    second_wall_at: str

    def text(self) -> str:
        """One line for the report."""
        return (f"campaign {self.campaign_id}: {self.first_worker} sent {self.first_key}, {self.second_worker} sent "
                f"{self.second_key} {self.gap_s:.1f} s later (at {self.second_wall_at})")


@dataclass
class ClaimAudit:
    """The double claims and handovers found, and which workers sent intents for each campaign.

    Attributes:
        lease_s: the lease the audit assumed (wall-clock seconds); the threshold is half of it.
        intents: intents read.
        double_claims: pairs less than ``lease_s / 2`` apart.
        handovers: pairs at least ``lease_s / 2`` apart.
        workers_by_campaign: campaign id -> the worker names that sent its intents, in order of first intent.
    """

    lease_s: float
    intents: int = 0
    double_claims: list[DoubleClaim] = field(default_factory=list)
    handovers: list[DoubleClaim] = field(default_factory=list)
    workers_by_campaign: dict[int, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (each pair as its one line)."""
        return {"lease_s": self.lease_s, "threshold_s": self.lease_s / 2, "intents": self.intents,
                "double_claims": len(self.double_claims), "handovers": len(self.handovers),
                "double_claim_details": [c.text() for c in self.double_claims],
                "handover_details": [c.text() for c in self.handovers],
                "workers_by_campaign": {str(k): v for k, v in self.workers_by_campaign.items()}}


def read_intents(store: db.Store, campaign_ids: Iterable[int]) -> list[db.StepIntentInfo]:
    """The intent log of ``campaign_ids`` (one short session), in wall-clock order."""
    with store.session() as s:
        return db.list_intents(s, list(campaign_ids))


def audit_claims(intents: Sequence[db.StepIntentInfo], lease_s: float) -> ClaimAudit:
    """Every double claim and handover in ``intents`` (see the module docstring).

    Args:
        intents: the intent log (any order; sorted here by wall clock, then id).
        lease_s: the workers' lease (wall-clock seconds).

    Raises:
        ValueError: ``lease_s`` is not positive.
    """
    if not lease_s > 0:
        raise ValueError(f"lease_s={lease_s}: expected a positive number of seconds")
    audit = ClaimAudit(lease_s=float(lease_s), intents=len(intents))
    by_campaign: dict[int, list[db.StepIntentInfo]] = defaultdict(list)
    for intent in sorted(intents, key=lambda i: (i.wall_at, i.id)):
        by_campaign[intent.campaign_id].append(intent)
    for cid, group in sorted(by_campaign.items()):
        names = [i.worker or UNNAMED for i in group]
        audit.workers_by_campaign[cid] = list(dict.fromkeys(names))
        for (a, name_a), (b, name_b) in zip(zip(group, names), zip(group[1:], names[1:])):
            if name_a == name_b:
                continue
            gap = (b.wall_at - a.wall_at).total_seconds()
            pair = DoubleClaim(cid, name_a, name_b, a.idempotency_key, b.idempotency_key, round(gap, 3),
                               b.wall_at.isoformat(timespec="milliseconds"))
            (audit.double_claims if gap < lease_s / 2 else audit.handovers).append(pair)
    return audit
