"""Errors of the notifications.

Tree::

    flows.errors.FlowError
     +-- NotifyConfigError (ValueError)   a notify file (``notify.toml``) has unknown keys or bad values

:mod:`flows.cli.errors` prints each problem on its own line, naming the file.
"""

from __future__ import annotations

from flows.errors import FlowError

__all__ = ["NotifyConfigError"]


class NotifyConfigError(FlowError, ValueError):
    """A notify file is wrong; nothing is sent until it is fixed.

    Attributes:
        source: the file.
        problems: one line per problem, naming the field (apprise URLs masked: they may hold secrets).
        what: ``"notify file"``, for the message.
    """

    what = "notify file"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"notify file {source}: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        return (type(self), (self.source, self.problems))
