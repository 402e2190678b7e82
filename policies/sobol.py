"""A space-filling baseline: one scrambled Sobol sequence per campaign, decoded into the space.

The sequence is scrambled with a seed derived from ``state.seed`` alone, so it is the same sequence
for the whole campaign, and each call starts at position ``len(observations) + len(pending)``: the
points already handed out and still on record are skipped, and successive calls continue the
sequence instead of restarting it. A decoded point that repeats an observed, pending or already
chosen experiment (common in small discrete spaces) is skipped and the next point is taken, so a
later call that starts inside a run of skipped points simply skips them again.

Proposals are deterministic, so ``log_prob`` is 0.0.

Example:
    >>> from lab.search_space import SearchSpace, ContinuousParameter
    >>> from lab.state import CampaignState, Objective
    >>> state = CampaignState(SearchSpace((ContinuousParameter("x", 0.0, 1.0),)), (Objective("y"),), seed=7)
    >>> a = SobolPolicy().propose(state, 2)
    >>> a == SobolPolicy().propose(state, 2)
    True
"""

from __future__ import annotations

from typing import Any

from lab.experiment import Proposal
from lab.state import CampaignState
from policies.candidates import decode_valid, point_key, sobol_unit, taken_keys
from policies.protocol import batch_size, check_proposals, derive_seed

__all__ = ["SobolPolicy", "sobol_params"]

VERSION = "1"
_MIN_LOOKAHEAD = 4096


def sobol_params(state: CampaignState, k: int) -> tuple[list[dict[str, Any]], int]:
    """The next ``k`` distinct, untried points of the campaign's Sobol sequence.

    Args:
        state: the campaign; its seed picks the scrambling, its history the starting position.
        k: the number of points wanted.

    Returns:
        ``(params, start)``: up to ``k`` parameter dicts (fewer only when ``64 * k + 4096`` further
        positions hold no new feasible point, i.e. a nearly exhausted discrete space) and the
        sequence position the search started from.
    """
    space = state.space
    start = len(state.observations) + len(state.pending)
    if k <= 0:
        return [], start
    seed = derive_seed(state.seed, None, salt="sobol")
    seen = taken_keys(state)
    out: list[dict[str, Any]] = []
    limit = 64 * k + _MIN_LOOKAHEAD
    pos = start
    chunk = max(2 * k, 16)
    while len(out) < k and pos - start < limit:
        for u in sobol_unit(space.dim, chunk, seed, skip=pos).tolist():
            params = decode_valid(space, u)
            if params is None:
                continue
            key = point_key(space.encode(params))
            if key in seen:
                continue
            seen.add(key)
            out.append(params)
            if len(out) == k:
                break
        pos += chunk
        chunk = min(4 * chunk, 8192)
    return out, start


class SobolPolicy:
    """Scrambled Sobol design over the unit cube, continued across decisions.

    Attributes:
        name: ``"sobol"``.
        version: ``"1"`` (it has no options).
    """

    name = "sobol"

    def __init__(self) -> None:
        self.version = VERSION

    def propose(self, state: CampaignState, n: int) -> list[Proposal]:
        """Up to ``min(n, budget_remaining)`` next points of the sequence (see :mod:`policies.protocol`)."""
        k = batch_size(state, n)
        params, start = sobol_params(state, k)
        detail = {"sequence_start": start}
        out = [Proposal(p, self.name, self.version, 0.0, dict(detail)) for p in params]
        check_proposals(state, n, out)
        return out

    def __repr__(self) -> str:
        return f"SobolPolicy(version={self.version!r})"
