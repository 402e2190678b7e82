"""The synchronous baseline: propose a batch, wait for every result of it, repeat.

:class:`SyncLoopEngine` is the :class:`~flows.campaign.engine.CampaignEngine` with one rule changed: it
proposes only when *nothing* of the campaign is in flight (no experiment proposed, dispatched or
running), and then exactly one experiment per bottleneck instrument (one per furnace). Polling,
dispatch, ingestion, analysis, the drivers, the Prefect tasks and the ledger are the engine's own,
so a throughput comparison between the two measures the scheduling rule and nothing else.

Example:
    >>> issubclass(SyncLoopEngine, CampaignEngine)
    True
"""

from __future__ import annotations

import db
from flows.campaign.engine import ACTIVE, CampaignEngine

__all__ = ["SyncLoopEngine"]


class SyncLoopEngine(CampaignEngine):
    """A campaign controller that waits for a whole batch before proposing the next.

    Each new batch holds one experiment per instrument of ``settings.bottleneck_kind`` (capped by
    the spec's ``batch_size`` and the budget, as in the engine); its steps are dispatched as their
    instruments free up, exactly as in the engine. Prefetch does not apply.
    """

    def _slots(self) -> int:
        """Free places for a new batch: all bottleneck instruments when the campaign is idle, else 0."""
        with self.store.session() as s:
            in_flight = db.list_experiments(s, self.campaign_id, states=list(ACTIVE))
        return 0 if in_flight else len(self.kinds[self.settings.bottleneck_kind])
