"""The one place where errors become what a user reads: one line and exit status 2.

Every package has its own typed root (each ``errors.py`` draws its tree)::

    lab.errors.LabError                   bad spec, lab file, reward file, pool manifest or CSV
    db.errors.StoreError                  unreachable or unknown database, unknown campaign, ledger refusals
    instruments.errors.InstrumentError    serial port missing, reply malformed, limits refused
    policies.errors.PolicyError           unknown policy name, bad options, unusable policy file
    flows.errors.FlowError                control commands, training configs and runs, missing instruments,
                                          campaigns the lab would refuse, notify files (one line per problem)

:func:`user_message` finds such an error in what a command raised, following explicit causes
(``raise X from err``) and exception groups, because Prefect re-raises a task's or flow's error
inside its own wrappers; :func:`friendly` wraps a command so that any of them prints one red line
per problem and exits 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from db.errors import StoreError
from flows.errors import FlowError
from instruments.errors import InstrumentError
from lab.errors import LabError
from policies.errors import PolicyError

__all__ = ["EXIT_USER_ERROR", "USER_ERRORS", "friendly", "user_lines", "user_message"]

EXIT_USER_ERROR = 2
USER_ERRORS: tuple[type[Exception], ...] = (LabError, StoreError, InstrumentError, PolicyError, FlowError)
_MAX_CHARS = 400
_MAX_LINES = 20

P = ParamSpec("P")
R = TypeVar("R")


def user_lines(exc: BaseException) -> list[str] | None:
    """What a user reads for an error they caused, one line per problem; ``None`` when ``exc`` is a bug.

    An error that lists several problems (a spec or lab file with ``problems``) gives one line
    each, naming the file (and what it is, unless a campaign spec: ``lab file lab.toml: ...``); any other gives its message on one line. Lines are at most 400
    characters, and at most 20 lines are returned.

    Example:
        >>> from lab.errors import SpecError
        >>> user_lines(RuntimeError("flow failed")) is None
        True
        >>> try:
        ...     raise RuntimeError("task failed") from SpecError("spec.toml", ["budget.experiments: must be >= 1"])
        ... except RuntimeError as err:
        ...     user_lines(err)
        ['spec.toml: budget.experiments: must be >= 1']
    """
    found = _find(exc, set())
    if found is None:
        return None
    problems = getattr(found, "problems", None)
    source = getattr(found, "source", None)
    what = getattr(found, "what", None)
    if source and isinstance(what, str) and what != "campaign spec":
        source = f"{what} {source}"  # "lab file lab.toml: ...", "reward file r.toml: ..."
    if isinstance(problems, list) and problems and all(isinstance(x, str) for x in problems):
        lines = [f"{source}: {x}" if source else x for x in problems]
    else:
        lines = [str(found) or type(found).__name__]
    lines = [_one_line(x) for x in lines]
    if len(lines) > _MAX_LINES:
        lines = [*lines[: _MAX_LINES - 1], f"... and {len(lines) - _MAX_LINES + 1} more problems"]
    return lines


def user_message(exc: BaseException) -> str | None:
    """:func:`user_lines` joined into one line with ``"; "`` (for logs, events and Prefect artifacts)."""
    lines = user_lines(exc)
    return None if lines is None else "; ".join(lines)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 3] + "..."


def _find(exc: BaseException | None, seen: set[int]) -> BaseException | None:
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, USER_ERRORS):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                hit = _find(sub, seen)
                if hit is not None:
                    return hit
        exc = exc.__cause__
    return None


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: a user error prints ``error: <one line>`` and exits with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            lines = user_lines(exc)
            if lines is None:
                raise
            console = Console()
            for line in lines:
                console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper
