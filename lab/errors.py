"""Errors of the lab domain.

Tree::

    LabError
     +-- SpecError (ValueError)            a campaign spec, lab file or reward file is invalid
     +-- SearchSpaceError (ValueError)     parameters outside or unknown to a search space
     +-- StateTransitionError (ValueError) an experiment cannot move between these states
     +-- PoolError (ValueError)            a pool manifest or CSV is invalid, or an experiment is not in a pool
"""

from __future__ import annotations

__all__ = ["LabError", "PoolError", "SearchSpaceError", "SpecError", "StateTransitionError"]


class LabError(Exception):
    """Root of every error raised by :mod:`lab`."""


class SpecError(LabError, ValueError):
    """A campaign spec, lab file or reward file failed validation.

    Attributes:
        source: the file (or ``"<spec>"`` for text).
        problems: one line per problem, each naming the field and why it is wrong.
        what: what the file is: ``"campaign spec"`` (the default), ``"lab file"`` or ``"reward file"``.
    """

    def __init__(self, source: str, problems: list[str], what: str = "campaign spec") -> None:
        self.source = source
        self.problems = list(problems)
        self.what = what
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} is not a valid {what}:\n{lines}")

    def __reduce__(self) -> tuple[type, tuple[str, list[str], str]]:
        return (type(self), (self.source, self.problems, self.what))


class SearchSpaceError(LabError, ValueError):
    """Parameter values that the search space does not admit."""


class StateTransitionError(LabError, ValueError):
    """An experiment was asked to move to a state it cannot reach from where it is."""


class PoolError(LabError, ValueError):
    """A pool manifest or pool CSV is invalid, or an experiment is not in the pool.

    Attributes:
        source: the file at fault (``None`` for errors that are not about one file).
        problems: one line per problem, each naming the entry or row, the field and what was
            expected (empty for a single-message error).

    Example:
        >>> err = PoolError.of("m.json", ["entry 'x': direction: expected 'maximize' or 'minimize', got 3"])
        >>> str(err)
        "m.json: entry 'x': direction: expected 'maximize' or 'minimize', got 3"
    """

    def __init__(self, message: str, problems: list[str] | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.problems = list(problems or [])

    @classmethod
    def of(cls, source: str, problems: list[str]) -> PoolError:
        """One error for every problem found in ``source``; its message is one line per problem."""
        return cls("\n".join(f"{source}: {p}" for p in problems), problems, source)
