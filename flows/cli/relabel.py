"""``lab relabel``: recompute a campaign's rewards under a new reward definition, or re-analyse its patterns.

``--reward FILE`` adds a reward version and computes every experiment's reward under it;
``--analysis`` fits every measured experiment's stored XRD pattern again as a new analysis
version (optionally with other candidate ``--phases``) and recomputes the active rewards
(:mod:`flows.campaign.reanalysis`). Both together: the re-analysis first. Old analyses and rewards
are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

import db
from flows.campaign import control
from flows.campaign.reanalysis import ReanalysisResult, reanalyse
from flows.cli.errors import friendly
from flows.cli.options import DB_OPTION
from flows.errors import UsageError

__all__ = ["register"]

console = Console()


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def reanalysis_table(result: ReanalysisResult, objectives: list[str]) -> Table:
    """Per experiment: each objective old -> new, the new fit residual, and the reward old -> new."""
    table = Table(title=f"Analysis version {result.version} (phases {', '.join(result.phases)})")
    table.add_column("sample")
    for name in objectives:
        table.add_column(name, justify="right")
    table.add_column("fit residual", justify="right")
    table.add_column(f"reward {result.reward_version}", justify="right")
    for e in result.experiments:
        cells = [f"{_number(e.old.get(n))} -> {_number(e.new.get(n))}" for n in objectives]
        residual = f"{e.residual:.3f}" + (" (above max)" if e.unexplained else "")
        table.add_row(e.sample_id, *cells, residual, f"{_number(e.old_reward)} -> {_number(e.new_reward)}")
    return table


@friendly
def relabel(campaign_id: int = typer.Argument(..., help="Campaign id."),
            reward: Optional[Path] = typer.Option(None, "--reward", help="Reward definition file (TOML: version, terms, "
                                                  "failure_reward)."),
            activate: bool = typer.Option(False, "--activate", help="Make the --reward version the one that proposals and "
                                          "reports use."),
            analysis: bool = typer.Option(False, "--analysis", help="Fit every measured experiment's stored XRD pattern "
                                          "again as a new analysis version; recompute the active rewards."),
            phases: Optional[str] = typer.Option(None, "--phases", help="With --analysis: candidate phases to fit, comma "
                                                 "separated (default: every phase the analysis knows)."),
            url: Optional[str] = DB_OPTION) -> None:
    """Recompute rewards under a new reward definition (--reward) or re-analyse stored patterns (--analysis); old ones are kept."""
    from lab.clock import WallClock
    if reward is None and not analysis:
        raise UsageError("give --reward FILE (a new reward definition), --analysis (re-analyse the patterns), or both")
    if phases is not None and not analysis:
        raise UsageError("--phases applies to --analysis only")
    if activate and reward is None:
        raise UsageError("--activate applies to --reward only")
    definition = None if reward is None else control.load_reward_file(reward)
    chosen = None if phases is None else [p for p in phases.split(",") if p.strip()]
    store = db.open_store(url)
    try:
        if analysis:
            result = reanalyse(store, campaign_id, WallClock().now(), phases=chosen)
            with store.session() as s:
                objectives = [o["name"] for o in db.get_campaign(s, campaign_id).spec["objectives"]]
            console.print(reanalysis_table(result, objectives))
            console.print(result.summary())
        if definition is not None:
            done = control.relabel(store, campaign_id, definition, WallClock().now(), activate=activate)
            console.print(f"campaign {campaign_id}: {done.rewarded} rewards and {done.failed} failures under {done.version}"
                          + (" (now active)" if done.active else
                             f"; see them with `lab status {campaign_id} --reward-version {done.version}`"))
    finally:
        store.dispose()


def register(app: typer.Typer) -> None:
    """Add ``lab relabel`` to ``app``."""
    app.command()(relabel)
