"""Where a campaign's policy comes from: the registry, or, for ``rl``, the store's published versions.

``[policy] name = "rl"`` in a spec runs the newest RL policy version published in the store (by
``lab train`` or a gated ``lab update``), or, while the store holds none, the policy shipped in
the package (:mod:`policies.rl.shipped`); ``options.version = "<version>"`` pins one;
``options.checkpoint = "<file>"`` uses a policy file instead of the store. The running campaign
follows new publications: before each decision :class:`StoredRLPolicy` checks the newest version
and loads it if it changed, so an accepted update takes effect at the next decision, and a
rejected one changes nothing.

Example (a spec)::

    [policy]
    name = "rl"
    options = { mode = "sample" }     # or { version = "3f2a9c0d1e2b4c5d" } to pin a version
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import db
from flows.errors import NoTrainedPolicy
from lab.experiment import Proposal
from lab.state import CampaignState
from policies.errors import PolicyArgumentError
from policies.protocol import Policy
from policies.registry import make_policy

if TYPE_CHECKING:  # torch loads only when the RL policy is used
    from policies.rl.checkpoint import PolicyBundle
    from policies.rl.policy import RLPolicy

__all__ = ["RL_POLICY", "StoredRLPolicy", "build_policy", "load_rl_bundle", "publish_rl_bundle"]

RL_POLICY = "rl"


def load_rl_bundle(store: db.Store, version: str | None = None) -> PolicyBundle:
    """The :class:`~policies.rl.checkpoint.PolicyBundle` of ``version`` (default: newest) from the
    store; the shipped policy when the store holds none (or ``version`` names the shipped one).

    Raises:
        NoTrainedPolicy: that version is neither stored nor shipped.
    """
    from policies.rl.checkpoint import PolicyBundle
    from policies.rl.shipped import shipped_bundle

    with store.session() as s:
        if version is None:
            info = db.latest_policy_version(s, RL_POLICY)
            if info is None:
                return shipped_bundle()
        else:
            shipped = shipped_bundle()
            if version == shipped.version:
                return shipped
            try:
                info = db.get_policy_version(s, RL_POLICY, version)
            except db.PolicyVersionNotFound as exc:
                raise NoTrainedPolicy(f"RL policy version {version!r} is not in the store; "
                                      f"`lab train --list` shows the stored ones") from exc
    if info.weights is None:
        raise NoTrainedPolicy(f"RL policy version {info.version!r} has no weights in the store")
    return PolicyBundle(info.weights, dict(info.config))


def publish_rl_bundle(store: db.Store, bundle: PolicyBundle, at: datetime, parent: str | None = None,
                      metrics: dict[str, Any] | None = None) -> str:
    """Store ``bundle`` (a :class:`~policies.rl.checkpoint.PolicyBundle`) as the newest RL version;
    campaigns pick it up at their next decision. Returns its sha256 address."""
    with store.session() as s:
        return db.store_policy_version(s, RL_POLICY, bundle.version, bundle.weights, bundle.config, at=at,
                                       parent=parent, metrics=metrics)


class StoredRLPolicy:
    """The RL policy backed by the store, following the newest published version unless pinned.

    Args:
        store: the ledger; options: RLPolicy options (``mode``, ``pool_size``, ``guardrail``);
        version: pin this version (``None``: follow the newest).
    """

    name = RL_POLICY

    def __init__(self, store: db.Store, options: dict[str, Any], version: str | None = None) -> None:
        self.store, self.options, self.pinned = store, dict(options), version
        self._policy = self._load()

    @property
    def version(self) -> str:
        return str(self._policy.version)

    def _load(self) -> RLPolicy:
        from policies.rl.policy import RLPolicy

        return RLPolicy.from_bundle(load_rl_bundle(self.store, self.pinned), **self.options)

    def _refresh(self) -> None:
        if self.pinned is not None:
            return
        with self.store.session() as s:
            newest = db.latest_policy_version(s, RL_POLICY)
        if newest is not None and newest.version != self._policy.version:
            self._policy = self._load()  # a newer version was published: it runs from the next decision

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Propose with the newest published version (see :meth:`RLPolicy.propose`)."""
        self._refresh()
        return self._policy.propose(state, n)


def build_policy(name: str, options: dict[str, Any], store: db.Store) -> Policy:
    """The policy a campaign runs: ``make_policy`` for every name, the store for ``rl`` without a checkpoint.

    Raises:
        NoTrainedPolicy: ``rl`` pinned to a version that is neither stored nor shipped.
        policies.errors.PolicyError: unknown name or bad options.
    """
    if name.strip().lower() != RL_POLICY or options.get("checkpoint"):
        return make_policy(name, **options)
    opts = dict(options)
    version = opts.pop("version", None)
    unknown = sorted(set(opts) - {"mode", "pool_size", "guardrail"})
    if unknown:
        raise PolicyArgumentError(f"policy 'rl' has no option(s) {unknown}; its options are "
                                  "['checkpoint', 'guardrail', 'mode', 'pool_size', 'version']")
    return StoredRLPolicy(store, opts, None if version is None else str(version))
