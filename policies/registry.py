"""Policies by name: :func:`make_policy`.

Policy modules are imported only when asked for, so choosing ``"random"`` does not load BoTorch.

Example:
    >>> make_policy("sobol").name
    'sobol'
    >>> make_policy("qlognei", pool_size=512).version
    '1+pool_size=512'
    >>> make_policy("ucb")
    Traceback (most recent call last):
    ...
    policies.errors.UnknownPolicy: unknown policy 'ucb'; known policies: qlognei, random, sobol
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
}


def known_policies() -> tuple[str, ...]:
    """The registered policy names, sorted."""
    return tuple(sorted(_REGISTRY))


def _policy_class(name: str) -> type:
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


def make_policy(name: str, **options: Any) -> Policy:
    """Build the policy registered as ``name`` (case-insensitive) with ``options``.

    Args:
        name: one of :func:`known_policies`.
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
    return cls(**options)
