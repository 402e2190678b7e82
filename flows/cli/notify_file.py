"""The notify file of a command: ``--notify FILE``, else ``$LAB_HOME/notify.toml`` when it exists."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from flows.campaign.settings import lab_home
from flows.notify.config import NotifyConfig, load_notify_config

__all__ = ["NOTIFY_OPTION", "notify_config"]

NOTIFY_OPTION = typer.Option(None, "--notify", help="Notify file (TOML: apprise `urls`, `on`, `stalled_after_hours`); "
                             "default: $LAB_HOME/notify.toml when it exists.")


def notify_config(path: Optional[Path]) -> Optional[NotifyConfig]:
    """The checked notify file (``None``: none given and none in ``LAB_HOME``).

    Raises:
        lab.errors.SpecError, flows.notify.errors.NotifyConfigError: the file is missing or wrong.
    """
    if path is None:
        default = lab_home() / "notify.toml"
        if not default.is_file():
            return None
        path = default
    return load_notify_config(path)
