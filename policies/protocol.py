"""The :class:`Policy` protocol every proposal policy implements, and helpers for its contract.

Contract of ``propose(state, n)``:

1. It returns **at most** ``min(n, state.budget_remaining)`` proposals (``budget_remaining=None``
   means unlimited); an exhausted budget gives ``[]``, not an error. It may return fewer when the
   search space has no more distinct points to offer (a small, fully discrete space).
2. Every proposal is **valid** in ``state.space`` (``state.space.check(p.params)`` passes).
3. No two proposals of one call are the same point, and none repeats an experiment that is
   **pending** (in flight), already **observed**, or **rejected** by a scientist
   (``state.rejected``): points are compared by their unit-cube encoding rounded to 9 decimals
   (:func:`point_key`).
4. It is **deterministic** given ``(state.seed, state.decision_index)`` and the state's contents:
   randomness comes from :func:`derive_seed`, fed to ``random.Random`` / ``torch.Generator`` /
   scrambled Sobol engines, never from global random number generators (a policy that needs
   torch's global generator, such as GP fitting, runs under ``torch.random.fork_rng`` with a
   derived seed, so it neither reads nor disturbs the caller's state).
5. Each proposal names the policy and its exact ``version`` and carries the log-probability of
   the pick under that version, conditional on the earlier picks of the same batch (0.0 for
   deterministic picks), plus small JSON-able ``detail`` (fallback reasons, acquisition values).
6. Torch tensors never leave :mod:`policies`: in goes a ``CampaignState``, out go ``Proposal``\\ s.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from lab.errors import SearchSpaceError
from lab.experiment import Proposal
from lab.search_space import SearchSpace
from lab.state import CampaignState
from policies.errors import PolicyArgumentError, ProposalError

__all__ = [
    "Policy",
    "PointKey",
    "batch_size",
    "check_proposals",
    "derive_seed",
    "encode_or_none",
    "item_features",
    "point_key",
    "require_int",
    "taken_keys",
    "version_string",
]

_SEED_MOD = 2**62
_KEY_DECIMALS = 9

PointKey = tuple[float, ...]


@runtime_checkable
class Policy(Protocol):
    """An experiment-proposal policy.

    Attributes:
        name: registry name, e.g. ``"qlognei"``; copied into every proposal.
        version: the exact decision rule (code revision plus non-default options), e.g.
            ``"1"`` or ``"1+pool_size=512"``; rewards are credited to it.
    """

    name: str

    @property
    def version(self) -> str:
        """The exact decision rule (read-only; a plain attribute satisfies it)."""
        ...

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Propose up to ``n`` new experiments for the campaign in ``state`` (see module contract)."""
        ...


def batch_size(state: CampaignState, n: int) -> int:
    """How many proposals a call may return: ``min(n, budget_remaining)``, never negative.

    Raises:
        PolicyArgumentError: ``n`` is not a non-negative integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise PolicyArgumentError(f"n must be a non-negative integer, got {n!r}")
    if state.budget_remaining is None:
        return n
    return max(0, min(n, int(state.budget_remaining)))


def derive_seed(seed: int, decision_index: int | None = None, salt: str = "") -> int:
    """A reproducible seed in ``[0, 2**62)`` from the campaign seed, decision index and a salt.

    Uses ``seed * 1_000_003 + decision_index`` mixed with a CRC-32 of ``salt`` (not Python's
    salted ``hash``), so it is the same in every process. ``decision_index=None`` gives a seed
    that is constant over the campaign (for sequences that continue across decisions).
    """
    base = int(seed) * 1_000_003 + (0 if decision_index is None else int(decision_index) + 1)
    return (base * 2_654_435_761 + zlib.crc32(salt.encode())) % _SEED_MOD


def require_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an int ``>= minimum``, else :class:`PolicyArgumentError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyArgumentError(f"option {name} must be an integer >= {minimum}, got {value!r}")
    return value


def version_string(base: str, options: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """``base`` plus the options that differ from their defaults, e.g. ``"1+pool_size=512"``."""
    changed = [f"{k}={options[k]}" for k in sorted(options) if options[k] != defaults.get(k)]
    return base if not changed else f"{base}+{','.join(changed)}"


def point_key(features: Sequence[float]) -> PointKey:
    """The identity of a point: its encoding, shape ``(dim,)``, rounded to 9 decimals."""
    return tuple(round(float(v), _KEY_DECIMALS) + 0.0 for v in features)  # + 0.0 folds -0.0 into 0.0


def encode_or_none(space: SearchSpace, params: Mapping[str, Any]) -> list[float] | None:
    """``space.encode(params)`` (shape ``(dim,)``), or ``None`` if ``params`` is not valid in ``space``.

    Observations made under an older version of the space may fall outside it; they cannot collide
    with a valid proposal, so callers skip them instead of failing the whole decision.
    """
    try:
        return space.encode(params)
    except (SearchSpaceError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


#: ``id(item) -> (space, features, key)`` for observations and pending experiments already encoded;
#: an entry is dropped when its object is garbage-collected (so an id is never reused stale).
_ITEM_CACHE: dict[int, tuple[SearchSpace, list[float] | None, PointKey | None]] = {}


def item_features(space: SearchSpace, item: Any) -> tuple[list[float] | None, PointKey | None]:
    """``(encode_or_none(space, item.params), its point_key)`` for an observation or pending experiment.

    The result is cached per object and space: :class:`~lab.state.Observation` and
    :class:`~lab.state.PendingExperiment` are immutable value objects, and a campaign's states share
    them from one decision to the next, so each experiment is encoded once instead of at every
    decision (without the cache, a campaign of ``n`` decisions encodes ``O(n^2)`` points). The
    returned list must not be mutated. Both are ``None`` when the parameters are not valid in
    ``space``.
    """
    entry = _ITEM_CACHE.get(id(item))
    if entry is not None and entry[0] is space:
        return entry[1], entry[2]
    features = encode_or_none(space, item.params)
    key = None if features is None else point_key(features)
    if entry is None:
        try:
            weakref.finalize(item, _ITEM_CACHE.pop, id(item), None).atexit = False
        except TypeError:  # not weak-referenceable: not cached
            return features, key
    _ITEM_CACHE[id(item)] = (space, features, key)
    return features, key


def taken_keys(state: CampaignState) -> set[PointKey]:
    """Keys of every observed, pending and rejected experiment that is valid in ``state.space`` (a new set)."""
    space = state.space
    keys: set[PointKey] = set()
    for item in (*state.observations, *state.pending, *state.rejected):
        key = item_features(space, item)[1]
        if key is not None:
            keys.add(key)
    return keys


def check_proposals(state: CampaignState, n: int, proposals: Sequence[Proposal]) -> None:
    """Raise :class:`ProposalError` if ``proposals`` break the contract for ``propose(state, n)``.

    Checks the count, validity in the space, distinctness, and that none repeats an observed,
    pending or rejected experiment. Policies call it on their own output; callers and tests may too.
    """
    if len(proposals) > batch_size(state, n):
        raise ProposalError(f"{len(proposals)} proposals for n={n}, budget_remaining={state.budget_remaining}")
    seen = taken_keys(state)
    for i, p in enumerate(proposals):
        try:
            key = point_key(state.space.encode(p.params))
        except SearchSpaceError as exc:
            raise ProposalError(f"proposal {i} by {p.policy} {p.policy_version} is invalid: {exc}") from exc
        if key in seen:
            raise ProposalError(f"proposal {i} by {p.policy} {p.policy_version} repeats an observed, pending, "
                                f"rejected or earlier proposed experiment: {dict(p.params)}")
        seen.add(key)
