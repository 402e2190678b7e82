"""Where each campaign stands, kept up to date from the event feed: one line per campaign.

``lab worker`` draws a progress bar per campaign from it and ``lab status --watch`` prints its
lines. A campaign seen for the first time is read from the store once (name, status, budget,
experiments with a result, best reward under the active version); after that, its
``experiment_finished`` events carry the counts and the best reward, and its status is read
again only when one of its events arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import db
from lab.experiment import ExperimentState

__all__ = ["CampaignTally", "Standing"]

_RESULTS = (ExperimentState.REWARDED.value, ExperimentState.FAILED.value, ExperimentState.MEASURED.value)


@dataclass
class Standing:
    """One campaign at a glance.

    Attributes:
        finished: experiments with a result (rewarded, measured or failed by chemistry).
        budget: the spec's experiment budget (``None``: a time budget only).
        best: the best reward so far under the active reward version (``None``: none yet).
    """

    campaign_id: int
    name: str
    status: str
    finished: int
    budget: int | None
    best: float | None

    def line(self) -> str:
        """``campaign 3 (name): running, 4/6 finished, best reward 0.722``."""
        budget = "?" if self.budget is None else str(self.budget)
        best = "no reward yet" if self.best is None else f"best reward {self.best:.3f}"
        return f"campaign {self.campaign_id} ({self.name}): {self.status}, {self.finished}/{budget} finished, {best}"


class CampaignTally:
    """The :class:`Standing` of every campaign whose events were seen (or that was added)."""

    def __init__(self, store: db.Store) -> None:
        self.store = store
        self.standings: dict[int, Standing] = {}

    def add(self, campaign_id: int) -> Standing:
        """Read campaign ``campaign_id`` from the store (again)."""
        with self.store.session() as s:
            info = db.get_campaign(s, campaign_id)
            counts = db.count_by_state(s, campaign_id)
            rewards = db.rewards_for(s, campaign_id, info.reward_version)
            rewarded = {e.id for e in db.list_experiments(s, campaign_id, states=[ExperimentState.REWARDED])}
        budget = (info.spec.get("budget") or {}).get("experiments")
        best = max((v for k, v in rewards.items() if k in rewarded), default=None)
        standing = Standing(campaign_id, info.name, info.status, sum(counts.get(k, 0) for k in _RESULTS),
                            budget if isinstance(budget, int) else None, best)
        self.standings[campaign_id] = standing
        return standing

    def update(self, events: Iterable[db.EventInfo]) -> list[int]:
        """Take in new events; returns the campaigns whose standing changed, in id order."""
        changed: set[int] = set()
        for e in events:
            cid = e.campaign_id
            if cid is None:
                continue
            if cid not in self.standings:
                self.add(cid)
            elif e.kind == "experiment_finished":
                st = self.standings[cid]
                finished, best = e.detail.get("finished"), e.detail.get("best_reward")
                st.finished = finished if isinstance(finished, int) else st.finished + 1
                st.best = float(best) if isinstance(best, (int, float)) else st.best
            changed.add(cid)
        for cid in changed:
            with self.store.session() as s:
                self.standings[cid].status = db.get_campaign(s, cid).status
        return sorted(changed)
