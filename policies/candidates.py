"""Candidate points for mixed and compositional search spaces.

Acquisition functions here are optimised over a finite **pool** of feasible points rather than by
gradients over a relaxed cube: a scrambled Sobol sample of the unit cube is decoded through
:meth:`lab.search_space.SearchSpace.decode` (integers rounded, the largest one-hot entry taken,
compositions projected onto their sum constraint) and re-encoded, so every candidate is a point
the lab can actually make and its features are exactly those of the experiment that would be run.
Points already observed, pending or rejected, and duplicates within the pool, are removed.

Points are identified by :func:`policies.protocol.point_key` (re-exported here), their encoding
rounded to 9 decimals, which is how the policies tell "the same experiment" apart from a new one.

**Fixed candidate sets.** A campaign over a finite table of real experiments (a benchmark pool)
gives its rows as a :class:`CandidateSet`; :meth:`CandidateSet.untried` is then the pool, in the
same :class:`CandidatePool` shape, so model-based policies score exactly those rows.

Example:
    >>> from lab.search_space import SearchSpace, CategoricalParameter
    >>> from lab.state import CampaignState, Objective
    >>> space = SearchSpace((CategoricalParameter("gas", ("air", "O2", "N2")),))
    >>> pool = candidate_pool(CampaignState(space, (Objective("y"),)), size=64, seed=0)
    >>> sorted(p["gas"] for p in pool.params)
    ['N2', 'O2', 'air']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lab.errors import SearchSpaceError
from lab.search_space import SearchSpace
from lab.state import CampaignState
from policies.protocol import (  # re-exported
    PointKey,
    encode_or_none,
    point_key,
    taken_keys,
)

__all__ = [
    "CandidatePool",
    "CandidateSet",
    "candidate_pool",
    "decode_valid",
    "encode_or_none",
    "point_key",
    "sobol_unit",
    "taken_keys",
]

DEFAULT_POOL_SIZE = 1024


def decode_valid(space: SearchSpace, features: Sequence[float]) -> dict[str, Any] | None:
    """``space.decode(features)`` if the result passes ``space.check``, else ``None``.

    ``decode`` is meant to be feasible everywhere, but its 6-decimal rounding of compositions can
    miss the sum tolerance (about 1 point in 10 for 3+ elements); such points are skipped.
    """
    params = space.decode([float(v) for v in features])
    try:
        space.check(params)
    except SearchSpaceError:
        return None
    return params


def sobol_unit(dim: int, n: int, seed: int, skip: int = 0) -> Tensor:
    """Points ``skip .. skip + n - 1`` of a scrambled Sobol sequence in ``[0, 1]^dim``.

    Args:
        dim: dimension of the cube (at most 21201).
        n: number of points.
        seed: scrambling seed; the same seed gives the same sequence.
        skip: position of the first point in the sequence.

    Returns:
        Tensor of shape ``(n, dim)``, float64, on the CPU.
    """
    engine = torch.quasirandom.SobolEngine(dimension=dim, scramble=True, seed=int(seed) % 2**31)
    if skip:
        engine.fast_forward(int(skip))
    return engine.draw(n, dtype=torch.float64)


@dataclass(frozen=True)
class CandidatePool:
    """Feasible, distinct, untried points.

    Attributes:
        X: their encodings, shape ``(N, dim)``, float64 in ``[0, 1]`` (CPU).
        params: the matching parameter dicts, length ``N``.
        n_drawn: Sobol points drawn to build the pool.
    """

    X: Tensor
    params: list[dict[str, Any]]
    n_drawn: int

    def __len__(self) -> int:
        return len(self.params)


def candidate_pool(
    state: CampaignState,
    size: int = DEFAULT_POOL_SIZE,
    seed: int = 0,
    exclude: set[PointKey] | None = None,
) -> CandidatePool:
    """Up to ``size`` feasible candidates, none observed, pending, rejected or repeated.

    A fully discrete space may hold fewer than ``size`` distinct untried points; the pool is then
    everything Sobol finds in ``4 * size`` draws (at least 4096).

    Args:
        state: the campaign (its space, observations and pending experiments).
        size: the number of candidates wanted.
        seed: Sobol scrambling seed (vary it per decision so pools differ between decisions).
        exclude: keys to leave out; default :func:`taken_keys` of ``state``.

    Returns:
        The pool, with ``X`` of shape ``(N, dim)``, ``N <= size``.
    """
    space = state.space
    seen = set(taken_keys(state) if exclude is None else exclude)
    rows: list[list[float]] = []
    params: list[dict[str, Any]] = []
    budget = max(4 * size, 4096)
    drawn = 0
    chunk = min(max(size, 64), budget)
    while len(params) < size and drawn < budget:
        raw = sobol_unit(space.dim, chunk, seed, skip=drawn)
        drawn += chunk
        for u in raw.tolist():
            p = decode_valid(space, u)
            if p is None:
                continue
            features = space.encode(p)
            key = point_key(features)
            if key in seen:
                continue
            seen.add(key)
            rows.append(features)
            params.append(p)
            if len(params) == size:
                break
    X = torch.tensor(rows, dtype=torch.float64).reshape(len(rows), space.dim).clamp(0.0, 1.0)
    return CandidatePool(X=X, params=params, n_drawn=drawn)


class CandidateSet:
    """A fixed, finite set of candidate experiments (e.g. the rows of a benchmark pool).

    Encodings are computed once per search space and cached, so each decision only filters out
    the observed and pending points.

    Args:
        params: the candidates as parameter dicts (valid in the campaign's space), length ``N``.

    Raises:
        PolicyArgumentError: ``params`` is empty.
    """

    def __init__(self, params: Sequence[Mapping[str, Any]]) -> None:
        from policies.errors import PolicyArgumentError

        self.params: tuple[dict[str, Any], ...] = tuple(dict(p) for p in params)
        if not self.params:
            raise PolicyArgumentError("candidates is empty: give at least one candidate experiment")
        self._cache: dict[SearchSpace, tuple[Tensor, list[PointKey]]] = {}
        self._rows_by_key: dict[SearchSpace, dict[PointKey, list[int]]] = {}

    def __len__(self) -> int:
        return len(self.params)

    def encoded(self, space: SearchSpace) -> tuple[Tensor, list[PointKey]]:
        """``(X, keys)``: encodings of shape ``(N, dim)`` (float64) and their point keys.

        Raises:
            SearchSpaceError: a candidate is not valid in ``space`` (naming it).
        """
        if space not in self._cache:
            rows = []
            for i, p in enumerate(self.params):
                try:
                    rows.append(space.encode(p))
                except (SearchSpaceError, KeyError) as exc:
                    raise SearchSpaceError(f"candidate {i} is not valid in the campaign's space: {exc}") from exc
            X = torch.tensor(rows, dtype=torch.float64).reshape(len(rows), space.dim).clamp(0.0, 1.0)
            self._cache[space] = (X, [point_key(r) for r in rows])
        return self._cache[space]

    def untried(self, state: CampaignState) -> CandidatePool:
        """The candidates neither observed, pending nor rejected in ``state``, shape ``(M, dim)``, in set order."""
        X, keys = self.encoded(state.space)
        rows = self._rows_by_key.get(state.space)
        if rows is None:
            rows = {}
            for i, k in enumerate(keys):
                rows.setdefault(k, []).append(i)
            self._rows_by_key[state.space] = rows
        free = np.ones(len(keys), dtype=bool)
        for k in taken_keys(state):  # O(taken) lookups, not O(N) hashes of every candidate's key
            for i in rows.get(k, ()):
                free[i] = False
        keep = np.flatnonzero(free)
        return CandidatePool(X=X[torch.from_numpy(keep)], params=[self.params[i] for i in keep.tolist()], n_drawn=0)

    def __repr__(self) -> str:
        return f"CandidateSet({len(self)} candidates)"
