"""A uniform random baseline, with an honest log-probability for off-policy learning.

Each parameter is drawn independently:

* continuous: uniform on ``[low, high]``;
* integer: uniform over the ``high - low + 1`` integers (each has probability ``1/m``; a rounded
  uniform draw would give the two end values half the mass of the others);
* categorical: uniform over its ``k`` choices;
* composition: a uniform point of its encoded cube (each element uniform within its bounds),
  projected onto the sum constraint by :meth:`lab.search_space.SearchSpace.decode`.

**log_prob.** The density is taken with respect to Lebesgue measure on the *unit-cube encoding* of
the continuous and composition features and counting measure on the discrete ones, so

    ``log_prob = -sum(log m_i for integer params) - sum(log k_j for categorical params)``

(a uniform density on the cube is 1, whose log is 0). The composition's pre-projection draw is the
action that is scored; the projection is a fixed map. Repeats of observed, pending or earlier batch
points are rejected and redrawn: with any continuous or composition parameter a repeat has
probability zero and the formula is exact; in a fully discrete space the pick is uniform over the
``K - e`` untried points (``K`` points in all, ``e`` excluded), so ``log_prob = -log(K - e)``,
conditional on the earlier picks of the batch. Decodes that fail ``space.check`` (a rounding
artefact of compositions, see :func:`policies.candidates.decode_valid`) are redrawn and ignored in
``log_prob``.

Example:
    >>> from lab.search_space import SearchSpace, CategoricalParameter, ContinuousParameter
    >>> from lab.state import CampaignState, Objective
    >>> space = SearchSpace((ContinuousParameter("t", 700.0, 1300.0), CategoricalParameter("gas", ("air", "O2"))))
    >>> [p] = RandomPolicy().propose(CampaignState(space, (Objective("y"),), seed=1), 1)
    >>> round(p.log_prob, 4)  # -log(2)
    -0.6931
"""

from __future__ import annotations

import math
import random
from typing import Any

from lab.experiment import Proposal
from lab.search_space import CategoricalParameter, IntegerParameter, SearchSpace
from lab.state import CampaignState
from policies.protocol import (
    batch_size,
    check_proposals,
    derive_seed,
    point_key,
    taken_keys,
)

__all__ = ["RandomPolicy", "discrete_size"]

VERSION = "1"
_MAX_TRIES_PER_PICK = 10_000


def discrete_size(space: SearchSpace) -> int | None:
    """Number of points of a fully discrete space, or ``None`` if any parameter is continuous."""
    total = 1
    for p in space.parameters:
        if isinstance(p, IntegerParameter):
            total *= p.high - p.low + 1
        elif isinstance(p, CategoricalParameter):
            total *= len(p.choices)
        else:
            return None
    return total


def _base_log_prob(space: SearchSpace) -> float:
    out = 0.0
    for p in space.parameters:
        if isinstance(p, IntegerParameter):
            out -= math.log(p.high - p.low + 1)
        elif isinstance(p, CategoricalParameter):
            out -= math.log(len(p.choices))
    return out


def _draw(space: SearchSpace, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space.parameters:
        if isinstance(p, IntegerParameter):
            out[p.name] = rng.randint(p.low, p.high)
        elif isinstance(p, CategoricalParameter):
            out[p.name] = p.choices[rng.randrange(len(p.choices))]
        else:  # continuous or composition: uniform on the encoded cube, then decoded
            out[p.name] = p.decode([rng.random() for _ in range(p.width)])
    return out


class RandomPolicy:
    """Independent uniform draws per parameter, never repeating a tried or pending point.

    Attributes:
        name: ``"random"``.
        version: ``"1"`` (it has no options).
    """

    name = "random"

    def __init__(self) -> None:
        self.version = VERSION

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` uniform random points (see :mod:`policies.protocol`)."""
        space = state.space
        k = batch_size(state, n)
        rng = random.Random(derive_seed(state.seed, state.decision_index, salt="random"))
        seen = taken_keys(state)
        total = discrete_size(space)
        base = _base_log_prob(space)
        out: list[Proposal] = []
        while len(out) < k:
            if total is not None and total - len(seen) <= 0:
                break  # every point of a finite space is tried or pending
            for _ in range(_MAX_TRIES_PER_PICK):
                params = _draw(space, rng)
                try:
                    space.check(params)
                except ValueError:
                    continue
                key = point_key(space.encode(params))
                if key not in seen:
                    break
            else:
                break  # nearly exhausted space: return what we have
            log_prob = base if total is None else -math.log(total - len(seen))
            seen.add(key)
            out.append(Proposal(params, self.name, self.version, log_prob, {"sampler": "uniform"}))
        check_proposals(state, n, out)
        return out

    def __repr__(self) -> str:
        return f"RandomPolicy(version={self.version!r})"
