"""The campaign summary as a Prefect artifact, published when a worker ends a campaign.

The same markdown as :func:`flows.campaign.flow.campaign_flow` publishes
(:func:`flows.campaign.report.summary_markdown`), under the same key ``campaign-<id>-summary``, so
a campaign's summary sits in the Prefect UI however it ran. Inside ``lab worker`` it belongs to the
worker's flow run; a keyed artifact created outside any flow run is stored too, without a run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prefect.artifacts import create_markdown_artifact

import db
from flows.campaign.report import summarise, summary_markdown

__all__ = ["publish_summary", "summary_key"]

log = logging.getLogger(__name__)


def summary_key(campaign_id: int) -> str:
    """The artifact key of a campaign's summary (Prefect keys: lower-case letters, digits, dashes)."""
    return f"campaign-{campaign_id}-summary"


def publish_summary(store: db.Store, campaign_id: int, now: datetime) -> bool:
    """Publish campaign ``campaign_id``'s summary as of ``now``; returns whether Prefect took it.

    A Prefect API that does not answer is logged as a warning: the store still holds everything
    the summary is made of (``lab status ID`` shows it), so the worker goes on.
    """
    try:
        summary = summarise(store, campaign_id, now)
        create_markdown_artifact(summary_markdown(summary), key=summary_key(campaign_id),
                                 description=f"Summary of campaign {campaign_id}: {summary.name}")
    except db.DatabaseUnreachable:
        raise
    except Exception as exc:
        log.warning("the summary artifact of campaign %s was not published: %s", campaign_id, exc)
        return False
    return True
