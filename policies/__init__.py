"""Experiment-proposal policies: a ``CampaignState`` in, ``Proposal``\\ s out.

Importing this package is cheap; BoTorch loads only when the GP policy is built.

Public API:

* :class:`policies.protocol.Policy`: the protocol (``name``, ``version``, ``propose(state, n)``) and
  its contract.
* :func:`policies.registry.make_policy`: ``"random"``, ``"sobol"``, ``"qlognei"``.
* :mod:`policies.errors`: ``PolicyError`` and its tree.
"""

from policies.errors import (
    PolicyArgumentError,
    PolicyError,
    ProposalError,
    UnknownPolicy,
)
from policies.protocol import Policy
from policies.registry import known_policies, make_policy, policy_options

__all__ = [
    "Policy",
    "PolicyArgumentError",
    "PolicyError",
    "ProposalError",
    "UnknownPolicy",
    "known_policies",
    "make_policy",
    "policy_options",
]
