"""The Prefect flow around :func:`flows.training.update.run_update`, run when enough rewards matured.

``update_flow(store, when_ready=N)`` counts the rewards of RL decisions that arrived since
the newest RL version was published; with fewer than ``N`` it does nothing (returns ``None``), so
it can be scheduled often (cron, a Prefect schedule) and only learns when there is something to
learn from. The report is published as a Prefect artifact and logged as a store event. ``store`` is
the store's handle (``db.store_handle``: the URL without its password; README, "Secrets"), since
Prefect keeps and serves a flow's parameters.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

import db
from flows.campaign.policy_source import RL_POLICY
from flows.training.update import UpdateSettings, run_update
from lab.experiment import MATURED_STATES

__all__ = ["matured_since_publication", "update_flow"]


def matured_since_publication(store: db.Store) -> int:
    """Matured rewards of RL-made experiments that the newest RL version has not learned from.

    An update records the highest experiment id it used (``metrics["last_experiment_id"]``; 0 for a
    version from ``lab train``); experiments are counted by id, not time, because simulated and
    wall clocks may both stamp the ledger.
    """
    with store.session() as s:
        newest = db.latest_policy_version(s, RL_POLICY)
        seen = int((newest.metrics if newest is not None else {}).get("last_experiment_id") or 0)
        count = 0
        for c in db.list_campaigns(s):
            rl_decisions = {d.id for d in db.list_decisions(s, c.id) if d.policy == RL_POLICY}
            for e in db.list_experiments(s, c.id):
                matured = e.state in MATURED_STATES
                if e.decision_id in rl_decisions and matured and e.id > seen:
                    count += 1
    return count


@flow(name="rl-update", log_prints=False, validate_parameters=False)
def update_flow(store: str | None = None, campaign_id: int | None = None, when_ready: int = 0
                ) -> dict[str, Any] | None:
    """Run one gated update if at least ``when_ready`` rewards matured since the last publication.

    Args:
        store: the store's handle (``db.store_handle(url)``, no password; ``None``: the default store).
        campaign_id: learn from this campaign only.
        when_ready: do nothing unless this many rewards matured since the newest RL version.

    Returns:
        The update report as a dict, or ``None`` when it was not ready.
    """
    opened = db.open_handle(store)
    try:
        if when_ready and matured_since_publication(opened) < when_ready:
            return None
        report = run_update(opened, campaign_id=campaign_id, settings=UpdateSettings())
        lines = [f"- **{k}**: {v}" for k, v in report.to_dict().items()]
        create_markdown_artifact("# RL policy update\n\n" + "\n".join(lines), key="rl-update",
                                 description="accepted" if report.accepted else "rejected")
        return report.to_dict()
    finally:
        opened.dispose()
