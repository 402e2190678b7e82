"""A process-wide stop request: SIGTERM or Ctrl-C sets it; engines finish their tick and return.

:func:`install` makes SIGTERM and SIGINT request a stop (a second SIGINT stops at once with
``KeyboardInterrupt``). Prefect's flow engine installs its own SIGTERM handler when a flow starts
(it raises ``TerminationSignal``, a crash), so a long-running flow calls :func:`install` again
first thing; ``on_stop`` from the first call is kept.

Example:
    >>> request_stop(); stop_requested()
    True
    >>> clear(); stop_requested()
    False
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["clear", "install", "request_stop", "stop_requested"]

_STOP = threading.Event()
_ON_STOP: list[Callable[[], None]] = []


def request_stop() -> None:
    """Ask every running engine in this process to stop after its current tick."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear() -> None:
    _STOP.clear()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _STOP.is_set() and signum == signal.SIGINT:
        raise KeyboardInterrupt  # a second Ctrl-C: stop at once (the store stays consistent)
    first = not _STOP.is_set()
    request_stop()
    if first:
        for callback in _ON_STOP:
            callback()


def install(on_stop: Callable[[], None] | None = None) -> bool:
    """Make SIGTERM and SIGINT request a stop; returns False off the main thread (signals cannot be set there).

    Args:
        on_stop: called once, at the first signal (e.g. to print "stopping after this round").
    """
    if on_stop is not None:
        _ON_STOP[:] = [on_stop]
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
    return True
