"""Errors raised by :mod:`policies`.

Tree::

    PolicyError
     +-- UnknownPolicy (KeyError)         no policy is registered under this name
     +-- PolicyArgumentError (ValueError) an option or argument given to a policy is invalid
     +-- ProposalError (RuntimeError)     a policy produced something that breaks its contract

A policy never raises for a *modelling* problem (a GP that will not fit, all rewards equal): it
falls back to a space-filling design and says why in :attr:`lab.experiment.Proposal.detail`, so an
unattended overnight campaign goes on. An exhausted budget is not an error either: ``propose``
returns an empty list.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PolicyArgumentError", "PolicyError", "ProposalError", "UnknownPolicy"]


class PolicyError(Exception):
    """Root of every error raised by :mod:`policies`."""


class UnknownPolicy(PolicyError, KeyError):
    """No policy is registered under ``name``.

    Attributes:
        name: the name asked for.
        known: the registered names.
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown policy {name!r}; known policies: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class PolicyArgumentError(PolicyError, ValueError):
    """An option of a policy (or the ``n`` given to ``propose``) is invalid."""


class ProposalError(PolicyError, RuntimeError):
    """A policy produced a proposal that is invalid in the search space or breaks the contract."""
