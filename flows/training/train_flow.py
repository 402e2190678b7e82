"""``lab train`` as a Prefect flow, so a worker on the ``training`` pool (the GPU machine) can run it.

``train_flow(config=..., store=..., device="auto")`` trains as :func:`flows.training.train.train`
does, on CUDA when the machine running it has a GPU (``device="auto"``), and publishes the trained
version to the shared store: ``store`` is the store's handle (``db.store_handle``: the URL without
its password; README, "Secrets"), opened on the training host with the password from its memory,
``LAB_DATABASE_URL`` or libpq's password file. Paths (``config``, ``run_dir``) are paths on the
host that runs the flow. The figures (held-out score, environment steps, device-seconds, the
device named) are the flow's return value, a Prefect artifact (``rl-train``) and the published
version's metrics.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

import db
from flows.campaign.policy_source import publish_rl_bundle
from flows.campaign.settings import lab_home
from flows.training.config import load_train_config
from flows.training.train import TrainResult, train
from lab.clock import WallClock
from policies.rl.checkpoint import PolicyBundle

__all__ = ["publish_trained", "train_flow"]


def publish_trained(store: db.Store, result: TrainResult, run_dir: Path) -> str:
    """Store the policy file of a finished run as the newest RL version, its figures as metrics; returns its version."""
    bundle = PolicyBundle.load(result.policy_file)
    publish_rl_bundle(store, bundle, WallClock().now(), metrics={
        "held_out_score": result.score, "env_steps": result.env_steps, "device_seconds": result.device_seconds,
        "device": result.device, "run_dir": str(run_dir)})
    return bundle.version


def _fresh_run_dir(name: str) -> Path:
    """``$LAB_HOME/runs/NAME-<UTC time>``: a new folder for each run of the deployment."""
    return lab_home() / "runs" / f"{name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


@flow(name="rl-train", log_prints=False, validate_parameters=False)
def train_flow(config: str | None = None, store: str | None = None, device: str = "auto",
               run_dir: str | None = None, resume: bool = False, publish: bool = True) -> dict[str, Any]:
    """Train the RL policy (imitation, then PPO) and publish it to the store; returns the run's figures.

    Args:
        config: a training config (TOML) on this host; ``None``: the built-in one.
        store: the store's handle (no password); ``None``: this host's default store.
        device: ``auto`` (CUDA when present), ``cuda`` or ``cpu``.
        run_dir: the run's folder; ``None``: a new ``$LAB_HOME/runs/NAME-<UTC time>``.
        resume: continue the run in ``run_dir`` from its checkpoint.
        publish: store the result as the newest RL version.

    Returns:
        ``version``, ``score`` (held-out), ``env_steps``, ``device_seconds``, ``device`` (named),
        ``run_dir`` and ``published`` (the store's masked URL, or ``None``).

    Raises:
        TrainingConfigError: a bad config or device, or a run folder that does not fit ``resume``.
        StoreError: the store cannot be opened (before any training starts).
    """
    cfg = load_train_config(config)
    opened = db.open_handle(store) if publish else None  # an unreachable store fails before hours of training
    try:
        where = Path(run_dir) if run_dir else _fresh_run_dir(cfg.name)
        result = train(cfg, where, device=device, resume=resume)
        published = None
        if opened is not None:
            publish_trained(opened, result, where)
            published = opened.masked_url
        figures: dict[str, Any] = {"version": result.version, "score": result.score, "env_steps": result.env_steps,
                                   "device_seconds": result.device_seconds, "device": result.device,
                                   "run_dir": str(where), "published": published}
        lines = [f"- **{k}**: {v}" for k, v in figures.items()]
        create_markdown_artifact("# RL training run\n\n" + "\n".join(lines), key="rl-train",
                                 description=f"{cfg.name} on {result.device}")
        return figures
    finally:
        if opened is not None:
            opened.dispose()
