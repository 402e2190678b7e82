"""A process-wide stop request: Ctrl-C in the CLI sets it; engines finish their tick and return.

Example:
    >>> request_stop(); stop_requested()
    True
    >>> clear(); stop_requested()
    False
"""

from __future__ import annotations

import threading

__all__ = ["clear", "request_stop", "stop_requested"]

_STOP = threading.Event()


def request_stop() -> None:
    """Ask every running engine in this process to stop after its current tick."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear() -> None:
    _STOP.clear()
