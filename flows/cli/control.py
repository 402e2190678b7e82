"""``lab pause``, ``lab resume``, ``lab cancel``, ``lab proposals``, ``lab approve``, ``lab reject``: a scientist's hand on a running campaign.

Each command changes the store only (:mod:`flows.campaign.control`, :mod:`flows.campaign.review`);
the engine running the campaign reads the store on every tick and follows. ``lab pause`` and
``lab cancel`` then say where each unfinished sample is (:func:`flows.campaign.pause.whereabouts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import typer
from rich.console import Console

import db
from flows.campaign import control
from flows.campaign.pause import MODE_WORDS, whereabouts
from flows.campaign.review import format_predicted, waiting_batches
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION
from lab.param_text import format_params

__all__ = ["register"]

console = Console()

def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def _now() -> datetime:
    from lab.clock import WallClock
    return WallClock().now()


def _samples(store: db.Store, campaign_id: int) -> None:
    lines = whereabouts(store, campaign_id)
    _say("no sample is left unfinished" if not lines else "samples:")
    for line in lines:
        _say(f"  {line}")


def _control(action: str, campaign_id: int, url: Optional[str]) -> None:
    store = db.open_store(url)
    status = getattr(control, action)(store, campaign_id, _now())
    _say(f"campaign {campaign_id} is now {status}")
    if action == "cancel":
        _samples(store, campaign_id)
    store.dispose()


@friendly
def pause(campaign_id: int = typer.Argument(..., help="Campaign id."),
          now: bool = typer.Option(False, "--now", help="Start no new step at once (default: started experiments finish)."),
          url: Optional[str] = DB_OPTION) -> None:
    """Pause a campaign: nothing new starts; started experiments finish their steps (or, with --now, wait)."""
    store = db.open_store(url)
    status = control.pause(store, campaign_id, _now(), now=now)
    _say(f"campaign {campaign_id} is now {status} ({MODE_WORDS['now' if now else 'deferred']}); results in flight are collected")
    _samples(store, campaign_id)
    store.dispose()


@friendly
def resume(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Resume a paused campaign (either kind of pause)."""
    _control("resume", campaign_id, url)


@friendly
def cancel(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """Cancel a campaign: started experiments finish and are recorded; nothing new is dispatched."""
    _control("cancel", campaign_id, url)


@friendly
def proposals(campaign_id: int = typer.Argument(..., help="Campaign id."), url: Optional[str] = DB_OPTION) -> None:
    """List the proposed batches waiting for approval: parameters and the policy's predicted outcome."""
    store = db.open_store(url)
    batches = waiting_batches(store, campaign_id)
    if not batches:
        _say("nothing waits for approval")
    for b in batches:
        _say(f"decision {b.index}: {len(b.experiments)} experiment(s) proposed {b.made_at:%Y-%m-%d %H:%M} UTC "
             f"by {b.policy} {b.policy_version}")
        for e in b.experiments:
            _say(f"  {e.sample_id}  {format_params(e.params)}  predicted: {format_predicted(e)}")
    if batches:
        _say(f"approve: lab approve {campaign_id} [--decision N]; reject: lab reject {campaign_id} --decision N --reason TEXT")
    store.dispose()


@friendly
def approve(campaign_id: int = typer.Argument(..., help="Campaign id."),
            decision: Optional[int] = typer.Option(None, "--decision", help="Only this decision (as `lab proposals` lists it)."),
            url: Optional[str] = DB_OPTION) -> None:
    """Approve the batches waiting for a scientist (spec: approval_required = true), or only one."""
    store = db.open_store(url)
    indices = control.approve(store, campaign_id, _now(), decision)
    _say(f"approved {len(indices)} batch(es) of campaign {campaign_id}" + (f": decisions {indices}" if indices else ""))
    store.dispose()


@friendly
def reject(campaign_id: int = typer.Argument(..., help="Campaign id."),
           decision: int = typer.Option(..., "--decision", help="The decision to reject (as `lab proposals` lists it)."),
           reason: str = typer.Option(..., "--reason", help="Why: kept with the batch in the ledger."),
           url: Optional[str] = DB_OPTION) -> None:
    """Reject one waiting batch: its experiments are cancelled, never run, and the policy will not propose them again."""
    store = db.open_store(url)
    rejected = control.reject(store, campaign_id, decision, reason, _now())
    with store.session() as s:
        samples = [db.get_experiment(s, i).sample_id for i in rejected.experiment_ids]
    _say(f"rejected decision {rejected.index} of campaign {campaign_id}: {', '.join(samples)} cancelled ({rejected.review_reason})")
    store.dispose()


def register(app: typer.Typer) -> None:
    """Add the control commands to ``app``."""
    for command in (pause, resume, cancel, proposals, approve, reject):
        app.command()(command)
