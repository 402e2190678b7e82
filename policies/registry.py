"""Policies by name: :func:`make_policy`.

Policy modules are imported only when asked for, so choosing ``"random"`` does not load BoTorch.

**Candidate sets.** Every policy takes the registry-level option ``candidates`` (a list of
parameter dicts, or a :class:`policies.candidates.CandidateSet`): the campaign may then only run those
experiments, as in a benchmark on a pool of real measurements. Policies with a ``with_candidates``
method (``qlognei``, ``qlognehvi``, ``rf-ei``, ``gp-iso-lcb``) score the untried candidates directly; ``random``
picks uniformly among them (:class:`policies.discrete.CandidateRandomPolicy`); any other policy is
wrapped in :class:`policies.discrete.SnapToCandidates` (``sobol``: nearest untried candidate to the next
Sobol point). ``candidates`` is not listed by :func:`policy_options`, which gives each policy's own
options.

Example:
    >>> make_policy("sobol").name
    'sobol'
    >>> make_policy("qlognei", pool_size=512).version
    '1+pool_size=512'
    >>> make_policy("ucb")
    Traceback (most recent call last):
    ...
    policies.errors.UnknownPolicy: unknown policy 'ucb'; known policies: gp-iso-lcb, qlognehvi, qlognei, random, rf-ei, rl, sobol
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from policies.errors import PolicyArgumentError, UnknownPolicy
from policies.protocol import Policy

__all__ = ["known_policies", "make_policy", "policy_options"]

_REGISTRY: dict[str, tuple[str, str]] = {
    "random": ("policies.random_policy", "RandomPolicy"),
    "sobol": ("policies.sobol", "SobolPolicy"),
    "qlognei": ("policies.gp", "QLogNEIPolicy"),
    "qlognehvi": ("policies.nehvi", "QLogNEHVIPolicy"),
    "rf-ei": ("policies.rf", "RandomForestEIPolicy"),
    "gp-iso-lcb": ("policies.gp_lcb", "GPIsoLCBPolicy"),
    "rl": ("policies.rl.policy", "RLPolicy"),
}

#: Policies whose candidate-set form is a different class (taking ``candidates`` only).
_ON_CANDIDATES: dict[str, tuple[str, str]] = {
    "random": ("policies.discrete", "CandidateRandomPolicy"),
}


def known_policies() -> tuple[str, ...]:
    """The registered policy names, sorted."""
    return tuple(sorted(_REGISTRY))


def _policy_class(name: str) -> type[Any]:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise UnknownPolicy(str(name), _REGISTRY)
    module, cls = _REGISTRY[key]
    return getattr(importlib.import_module(module), cls)


def policy_options(name: str) -> dict[str, Any]:
    """The options a policy takes, with their defaults (``{}`` for none).

    Raises:
        UnknownPolicy: ``name`` is not registered.
    """
    sig = inspect.signature(_policy_class(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def make_policy(name: str, candidates: Any = None, **options: Any) -> Policy:
    """Build the policy registered as ``name`` (case-insensitive) with ``options``.

    Args:
        name: one of :func:`known_policies`.
        candidates: optional fixed candidate set (parameter dicts or a ``CandidateSet``); the
            policy then proposes only untried candidates (see the module docstring).
        **options: the policy's options (see :func:`policy_options`).

    Returns:
        A new policy instance.

    Raises:
        UnknownPolicy: ``name`` is not registered (the message lists the known names).
        PolicyArgumentError: an option is unknown to the policy or has an invalid value.
    """
    cls = _policy_class(name)
    allowed = policy_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"its options are {sorted(allowed)}" if allowed else "it takes no options"
        raise PolicyArgumentError(f"policy {name!r} has no option(s) {unknown}; {takes}")
    policy = cls(**options)
    if candidates is None:
        return policy
    key = name.strip().lower()
    if hasattr(policy, "with_candidates"):
        return policy.with_candidates(candidates)
    if key in _ON_CANDIDATES:
        module, attr = _ON_CANDIDATES[key]
        return getattr(importlib.import_module(module), attr)(candidates)
    from policies.discrete import SnapToCandidates

    return SnapToCandidates(policy, candidates)
