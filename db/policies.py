"""Policy versions: content-addressed snapshots of a policy's weights and configuration.

The address is ``sha256(name, canonical config JSON, weights)``; the name is included so that two
parameter-free policies (say ``random`` and ``sobol`` with empty configs) do not share an address.
Storing the same content again returns the existing address, whatever version label it is given.

Example (with a session from ``store.session()``)::

    sha = store_policy_version(session, "metabo", "3", weights, {"hidden": 64}, at=clock.now(), parent="2")
    latest_policy_version(session, "metabo").version  # "3"
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import ConflictingRecord, PolicyVersionNotFound
from db.models import PolicyVersion
from db.records import PolicyVersionInfo
from db.types import aware_utc, json_dumps

__all__ = [
    "get_policy_version", "get_policy_version_by_sha", "latest_policy_version", "list_policy_versions",
    "policy_sha256", "store_policy_version",
]


def policy_sha256(name: str, weights: bytes | None, config: dict[str, Any]) -> str:
    """The content address of a policy version (hex sha256)."""
    canonical = json.dumps(json.loads(json_dumps(config)), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256()
    for part in (name.encode(), canonical.encode(), b"" if weights is None else b"W" + bytes(weights)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _info(row: PolicyVersion) -> PolicyVersionInfo:
    return PolicyVersionInfo(id=row.id, name=row.name, version=row.version, sha256=row.sha256,
                             weights=None if row.weights is None else bytes(row.weights), config=copy.deepcopy(row.config),
                             created_at=row.created_at, parent_version=row.parent_version,
                             metrics=copy.deepcopy(row.metrics))


def store_policy_version(session: Session, name: str, version: str, weights: bytes | None, config: dict[str, Any],
                         at: datetime, parent: str | None = None, metrics: dict[str, Any] | None = None) -> str:
    """Store a policy version; returns its sha256 address (the existing one for content already stored).

    Args:
        weights: serialized weights (e.g. ``torch.save`` bytes), or ``None`` for parameter-free policies.
        config: the JSON-able configuration that, with the weights, rebuilds the policy.
        parent: the version it was trained from.
        metrics: gate results, ESS, evaluation scores...

    Raises:
        ConflictingRecord: ``(name, version)`` is already stored with different content.
    """
    at = aware_utc(at)
    sha = policy_sha256(name, weights, config)
    if session.scalars(select(PolicyVersion).where(PolicyVersion.sha256 == sha)).first() is not None:
        return sha
    clash = session.scalars(select(PolicyVersion).where(PolicyVersion.name == name, PolicyVersion.version == version)).first()
    if clash is not None:
        raise ConflictingRecord(f"policy {name!r} version {version!r} is already stored with different content "
                                f"(sha256 {clash.sha256[:12]}...); publish the new content under a new version")
    session.add(PolicyVersion(name=name, version=version, sha256=sha, weights=None if weights is None else bytes(weights),
                              config=json.loads(json_dumps(config)), created_at=at, parent_version=parent,
                              metrics=dict(metrics or {})))
    session.flush()
    return sha


def get_policy_version(session: Session, name: str, version: str) -> PolicyVersionInfo:
    """The stored version ``version`` of policy ``name``.

    Raises:
        PolicyVersionNotFound: not stored.
    """
    row = session.scalars(select(PolicyVersion).where(PolicyVersion.name == name, PolicyVersion.version == version)).first()
    if row is None:
        raise PolicyVersionNotFound(f"no stored policy {name!r} with version {version!r}")
    return _info(row)


def get_policy_version_by_sha(session: Session, sha256: str) -> PolicyVersionInfo:
    """The stored policy version with this content address.

    Raises:
        PolicyVersionNotFound: not stored.
    """
    row = session.scalars(select(PolicyVersion).where(PolicyVersion.sha256 == sha256)).first()
    if row is None:
        raise PolicyVersionNotFound(f"no stored policy version with sha256 {sha256}")
    return _info(row)


def latest_policy_version(session: Session, name: str) -> PolicyVersionInfo | None:
    """The most recently stored (published) version of policy ``name``, or ``None``; publication order, not
    ``created_at``, decides (simulated and wall clocks may both stamp versions)."""
    row = session.scalars(select(PolicyVersion).where(PolicyVersion.name == name)
                          .order_by(PolicyVersion.id.desc()).limit(1)).first()
    return None if row is None else _info(row)


def list_policy_versions(session: Session, name: str | None = None) -> list[PolicyVersionInfo]:
    """Stored policy versions (of ``name``, or all), in publication order."""
    query = select(PolicyVersion).order_by(PolicyVersion.id)
    if name is not None:
        query = query.where(PolicyVersion.name == name)
    return [_info(r) for r in session.scalars(query)]
