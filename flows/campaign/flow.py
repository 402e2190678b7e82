"""The Prefect flow that runs one campaign from the store.

``campaign_flow(campaign_id)`` opens the store, connects the campaign's instruments (simulated or
from a lab file), and runs the :class:`~flows.campaign.engine.CampaignEngine` until the campaign completes,
is cancelled, or a stop is requested. Every instrument command inside is a retried Prefect task
(:mod:`flows.campaign.instrument_calls`). At the end it publishes the summary as a Prefect artifact. A flow
that crashes is simply run again: the store holds everything it needs.

The flow takes the store's handle (``db.store_handle``: the URL without its password), never the
URL, since Prefect keeps and serves a flow's parameters; ``db.open_handle`` finds the password
again (README, "Secrets").
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed

import db
from flows.campaign import instrument_calls, shutdown
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.failure import fail_campaign, one_line
from flows.campaign.policy_source import build_policy
from flows.campaign.report import summarise, summary_markdown
from flows.campaign.runtime import Rig, hardware_rig, simulated_rig
from flows.errors import CampaignFailed
from lab.spec import CampaignSpec

__all__ = ["campaign_flow", "run_campaign"]


@flow(name="campaign", log_prints=False, validate_parameters=False)
def campaign_flow(campaign_id: int, store: str | None = None, lab_file: str | None = None) -> str:
    """Run campaign ``campaign_id``; simulated instruments unless ``lab_file`` names real ones.

    Args:
        campaign_id: the campaign to run.
        store: the store's handle (``db.store_handle(url)``, no password; ``None``: the default store).
        lab_file: a lab file naming real instruments; ``None``: the simulated lab.

    Returns:
        The campaign's status at the end: completed, cancelled, failed, paused or running (stopped).

    An error ends the flow run ``Failed`` with its one-line message (no traceback in the log) and
    is raised to the caller as it was.
    """
    try:
        return _run(campaign_id, store, lab_file)
    except Exception as exc:
        return cast(str, Failed(message=one_line(exc), data=exc))


def _run(campaign_id: int, handle: str | None, lab_file: str | None) -> str:
    store = db.open_handle(handle)
    try:
        with store.session() as s:
            info = db.get_campaign(s, campaign_id)
        spec = CampaignSpec.from_store_dict(info.spec)
        rig_cm = hardware_rig(lab_file) if lab_file else simulated_rig(spec, seed=spec.seed, start=_resume_time(store, campaign_id))
        with rig_cm as rig:
            status = run_campaign(store, campaign_id, spec, rig)
            summary = summarise(store, campaign_id, rig.clock.now())
        create_markdown_artifact(summary_markdown(summary), key=f"campaign-{campaign_id}-summary",
                                 description=f"Summary of campaign {campaign_id}: {spec.name}")
        return status
    finally:
        store.dispose()


def run_campaign(store: db.Store, campaign_id: int, spec: CampaignSpec, rig: Rig) -> str:
    """Run the engine of one campaign on ``rig`` until it ends or a stop is requested.

    Raises:
        CampaignFailed: the campaign could not go on (it is marked failed with the reason).
    """
    if rig.simulated:
        instrument_calls.RETRY_DELAYS[:] = [0.0, 0.0, 0.0]
    try:
        policy = build_policy(spec.policy.name, spec.policy.options, store)
        settings = EngineSettings(poll_interval_s=3600.0 if rig.simulated else 60.0)
        engine = CampaignEngine(store, campaign_id, rig.instruments, rig.clock, policy, settings)
        return engine.run(should_stop=shutdown.stop_requested)
    except db.DatabaseUnreachable:
        raise
    except Exception as exc:
        reason = one_line(exc)
        fail_campaign(store, campaign_id, reason, rig.clock.now(), rig.instruments)
        raise CampaignFailed(f"campaign {campaign_id} failed: {reason}") from exc


def _resume_time(store: db.Store, campaign_id: int) -> datetime:
    """A restarted simulated campaign's clock starts after the last thing the store recorded."""
    with store.session() as s:
        return db.last_activity(s, campaign_id) or db.get_campaign(s, campaign_id).created_at
