"""``lab train``, ``lab update`` and ``lab policies``: train, improve and list the RL policy.

* ``lab train [--config FILE] [--device cuda|cpu] [--run-dir DIR] [--resume]`` trains with a
  progress bar, checkpoints every few iterations, and publishes the result to the store (the same
  training as the ``rl-train`` flow that ``lab deploy`` puts on the ``training`` pool:
  :mod:`flows.training.train_flow`).
* ``lab update [--campaign ID] [--when-ready N] [--notify FILE]`` runs the gated off-policy update (a
  Prefect flow) and notifies its outcome (``policy_published``/``policy_rejected``) as the notify file asks.
* ``lab policies`` lists the stored RL versions with their parent and gate metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import db
from flows.campaign.policy_source import RL_POLICY, publish_rl_bundle
from flows.campaign.settings import lab_home
from flows.cli.errors import friendly
from flows.cli.notify_file import NOTIFY_OPTION, notify_config

__all__ = ["register"]

console = Console()


def train_command(config: Optional[Path] = typer.Option(None, "--config", help="Training config (TOML); default: built-in."),
                  device: Optional[str] = typer.Option(None, "--device", help="cuda or cpu (default: cuda when present)."),
                  run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: $LAB_HOME/runs/NAME)."),
                  resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir from its checkpoint."),
                  url: Optional[str] = typer.Option(None, "--db", help="Store to publish the trained version to."),
                  no_publish: bool = typer.Option(False, "--no-publish", help="Do not store the result as a policy version.")
                  ) -> None:
    """Train the RL policy on simulated campaigns (imitation of each task's best teacher, then PPO) and publish it."""
    from flows.training.config import load_train_config
    from flows.training.train import train

    cfg = load_train_config(config)
    store = None if no_publish else db.open_store(url)
    where = run_dir or lab_home() / "runs" / cfg.name
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=console) as bar:
        task = bar.add_task(f"training {cfg.name}", total=cfg.planned_iterations, info="")

        def tick(it: int, m: dict[str, Any]) -> None:
            info = f"{m['phase']} regret {m['train_regret']:.3f}"
            if "score" in m:
                info += f" | held-out score {m['score']:.4f}"
            bar.update(task, completed=it, info=info)

        result = train(cfg, where, device=device, resume=resume, on_iteration=tick)
    console.print(f"trained {cfg.name} on {result.device}: {result.env_steps} environment steps in "
                  f"{result.device_seconds:.0f} device-seconds ({result.env_steps / max(result.device_seconds, 1e-9):.0f} "
                  f"steps/s); held-out score {result.score:.4f}")
    console.print(f"policy file {result.policy_file}; learning curve {where / 'curve.jsonl'} (`lab forecast {where}`)")
    if store is not None:
        from flows.training.train_flow import publish_trained

        version = publish_trained(store, result, where)
        console.print(f"published rl version {version} to {store.masked_url}")
        store.dispose()


def update_command(campaign: Optional[int] = typer.Option(None, "--campaign", help="Learn from this campaign only."),
                   when_ready: int = typer.Option(0, "--when-ready", min=0,
                                                  help="Run only if at least N rewards matured since the last publication."),
                   url: Optional[str] = typer.Option(None, "--db", help="Database URL."),
                   json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON."),
                   notify: Optional[Path] = NOTIFY_OPTION) -> None:
    """Gated off-policy update of the RL policy from the store's matured rewards (published or rejected: notified)."""
    from flows.notify.notifier import notify_events
    from flows.training.update_flow import update_flow

    notifications = notify_config(notify)  # a bad notify file fails before the update runs
    store = db.open_store(url)
    with store.session() as s:
        before = db.latest_event_id(s)
    report = update_flow(store.handle, campaign_id=campaign, when_ready=when_ready)
    if notifications is not None:
        notify_events(store, notifications, after=before)  # the update's own event (policy published or rejected)
    if report is None:
        console.print(f"not enough new rewards yet (needs {when_ready}); nothing done")
        return
    t = Table(title="RL policy update")
    t.add_column("quantity")
    t.add_column("value")
    for key in ("running_version", "n_decisions", "n_picks", "picks_by_version", "version_lag", "ess_running",
                "ess_candidate", "suite_running", "suite_candidate", "skipped"):
        value = report[key]
        t.add_row(key, f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(t)
    verdict = f"published {report['new_version']}" if report["accepted"] else "rejected; the running policy is unchanged"
    console.print(f"[bold]{verdict}[/]: {report['reason']}", highlight=False)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str))


def policies_command(url: Optional[str] = typer.Option(None, "--db", help="Database URL."),
                     publish: Optional[Path] = typer.Option(None, "--publish",
                                                            help="First store this policy file (from `lab train`, e.g. "
                                                                 "trained on a GPU machine) as the newest version.")) -> None:
    """List the stored RL policy versions, in publication order (the last one runs)."""
    from lab.clock import WallClock
    from policies.rl.checkpoint import PolicyBundle
    from policies.rl.policy import RLPolicy
    from policies.rl.shipped import shipped_bundle

    store = db.open_store(url)
    if publish is not None:
        bundle = PolicyBundle.load(publish)
        RLPolicy.from_bundle(bundle)  # refuse weights that do not load, or other features, before a campaign sees them
        publish_rl_bundle(store, bundle, WallClock().now(), metrics={"published_from": str(publish)})
    with store.session() as s:
        rows = db.list_policy_versions(s, RL_POLICY)
    shipped = shipped_bundle()
    t = Table(title="RL policy versions (the last one runs)")
    for col in ("version", "source", "parent", "created", "metrics"):
        t.add_column(col, no_wrap=col in ("version", "parent"), overflow="fold")
    t.add_row(shipped.version, "shipped with the package" + ("" if rows else " (runs: nothing is stored)"), "-", "-",
              json.dumps({"run": shipped.config.get("run"), "iteration": shipped.config.get("iteration")}))
    for r in rows:
        keep = {k: r.metrics[k] for k in ("held_out_score", "suite_candidate", "ess_candidate", "n_picks") if k in r.metrics}
        t.add_row(r.version, "store", r.parent_version or "-", r.created_at.strftime("%Y-%m-%d %H:%M"), json.dumps(keep))
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``update`` and ``policies`` to the ``lab`` app."""
    app.command("train")(friendly(train_command))
    app.command("update")(friendly(update_command))
    app.command("policies")(friendly(policies_command))
