"""The notify file: where notifications go and which ones are sent.

``$LAB_HOME/notify.toml`` (or ``lab worker --notify FILE``), TOML::

    urls = ["json://127.0.0.1:8123/hook"]   # apprise URLs (https://github.com/caronc/apprise/wiki)
    on = ["campaign_finished", "campaign_failed", "instrument_fault", "experiment_lost",
          "approval_waiting", "policy_published", "policy_rejected", "stalled"]
    stalled_after_hours = 2.0

``on`` defaults to every kind in :data:`KINDS`; ``stalled_after_hours`` (hours of the campaign's
clock, > 0) to 2. Apprise URLs often hold tokens or passwords, so they are never printed whole:
:func:`mask_apprise_url` keeps the scheme only.

Example:
    >>> mask_apprise_url("tgram://123456:SECRET/987")
    'tgram://***'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.notify.errors import NotifyConfigError
from lab.toml_input import read_toml

__all__ = ["DEFAULT_STALLED_AFTER_H", "KINDS", "NotifyConfig", "load_notify_config", "mask_apprise_url"]

#: What can be notified, and what each means.
KINDS: dict[str, str] = {
    "campaign_finished": "a campaign completed (its best result)",
    "campaign_failed": "a campaign failed (its reason)",
    "instrument_fault": "an instrument stopped answering or refused a command",
    "experiment_lost": "an experiment was lost (a deadline passed, a job vanished)",
    "approval_waiting": "a batch waits for `lab approve`",
    "policy_published": "`lab update` published a new policy version",
    "policy_rejected": "`lab update` rejected a candidate policy",
    "stalled": "a running campaign finished no experiment for `stalled_after_hours`",
}
DEFAULT_STALLED_AFTER_H = 2.0
_KEYS = ("urls", "on", "stalled_after_hours")


def mask_apprise_url(url: str) -> str:
    """An apprise URL fit to print: its scheme only (what follows may be a token or a password)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep and scheme.isascii() and scheme.isalnum() else "***"


@dataclass(frozen=True)
class NotifyConfig:
    """A checked notify file.

    Attributes:
        urls: the apprise URLs (secret: print :meth:`masked_urls`).
        on: the notification kinds sent (names from :data:`KINDS`).
        stalled_after_hours: hours of the campaign's clock without a finished experiment that make a
            running campaign ``stalled``.
        source: the file it came from.
    """

    urls: tuple[str, ...]
    on: frozenset[str]
    stalled_after_hours: float = DEFAULT_STALLED_AFTER_H
    source: str = "<notify>"

    def masked_urls(self) -> list[str]:
        """The URLs as they may be printed."""
        return [mask_apprise_url(u) for u in self.urls]

    def describe(self) -> str:
        """One line for a log: where notifications go and which are sent (URLs masked)."""
        return (f"notifications ({self.source}) to {', '.join(self.masked_urls())} on {', '.join(sorted(self.on))}"
                f"; stalled after {self.stalled_after_hours:g} h")


def load_notify_config(path: str | Path) -> NotifyConfig:
    """Read and check a notify file (see the module docstring).

    Raises:
        lab.errors.SpecError: the file is missing, unreadable or not TOML (``what == "notify file"``).
        NotifyConfigError: a key is unknown or a value is wrong; lists every problem.
    """
    source = str(path)
    data = read_toml(path, "notify file")
    problems = [f"{k}: unknown key; expected {', '.join(_KEYS)}" for k in data if k not in _KEYS]
    urls = _urls(data.get("urls"), problems)
    on = _kinds(data.get("on", list(KINDS)), problems)
    hours = _hours(data.get("stalled_after_hours", DEFAULT_STALLED_AFTER_H), problems)
    if problems:
        raise NotifyConfigError(source, problems)
    return NotifyConfig(tuple(urls), frozenset(on), hours, source)


def _urls(value: Any, problems: list[str]) -> list[str]:
    import apprise

    if not isinstance(value, list) or not value or not all(isinstance(u, str) for u in value):
        problems.append("urls: expected a non-empty list of apprise URLs (strings), e.g. [\"json://127.0.0.1:8123/hook\"]")
        return []
    for i, url in enumerate(value):
        if not apprise.Apprise().add(url):
            problems.append(f"urls[{i}] ({mask_apprise_url(url)}): not a URL apprise can send to")
    return list(value)


def _kinds(value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        problems.append(f"on: expected a list of notification kinds from {', '.join(KINDS)}")
        return []
    for kind in value:
        if kind not in KINDS:
            problems.append(f"on: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return [k for k in value if k in KINDS]


def _hours(value: Any, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        problems.append(f"stalled_after_hours: expected a number of hours > 0, got {value!r}")
        return DEFAULT_STALLED_AFTER_H
    return float(value)
