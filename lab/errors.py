"""Errors of the lab domain.

Tree::

    LabError
     +-- SpecError (ValueError)            a campaign spec or reward file is invalid
     +-- SearchSpaceError (ValueError)     parameters outside or unknown to a search space
     +-- StateTransitionError (ValueError) an experiment cannot move between these states
"""

from __future__ import annotations

__all__ = ["LabError", "SearchSpaceError", "SpecError", "StateTransitionError"]


class LabError(Exception):
    """Root of every error raised by :mod:`lab`."""


class SpecError(LabError, ValueError):
    """A campaign spec (or reward definition) failed validation.

    Attributes:
        problems: one line per problem, each naming the field and why it is wrong.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} is not a valid campaign spec:\n{lines}")


class SearchSpaceError(LabError, ValueError):
    """Parameter values that the search space does not admit."""


class StateTransitionError(LabError, ValueError):
    """An experiment was asked to move to a state it cannot reach from where it is."""
