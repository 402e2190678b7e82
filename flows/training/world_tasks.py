"""The materials-world task family for RL training, built from a campaign spec.

Candidates are feasible points of the spec's search space (scrambled Sobol, decoded); their true
values are the target-phase weight fractions in ``n_worlds`` materials worlds with sampled
kinetics (:func:`flows.campaign.runtime.world_target_fractions`). Policies may not import simulators, so
the table is computed here and handed to :class:`policies.rl.tasks.TabulatedTasks`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lab.spec import example_path, load_spec
from policies.candidates import sobol_unit
from policies.rl.tasks import TabulatedTasks

__all__ = ["world_tasks"]


def world_tasks(spec_path: str | Path | None = None, *, n_worlds: int = 8, n_candidates: int = 1024,
                seed: int = 0) -> TabulatedTasks:
    """Tabulated BaTiO3-style tasks (default: the shipped ``batio3`` example spec).

    Args:
        spec_path: a campaign spec with a solid-state workflow.
        n_worlds: materials-world variants; n_candidates: feasible points tabulated.
        seed: Sobol scrambling and world sampling.
    """
    from flows.campaign.runtime import world_target_fractions

    spec = load_spec(spec_path or example_path("batio3"))
    space = spec.search_space()
    params, seen = [], set()
    for u in sobol_unit(space.dim, 4 * n_candidates, seed).tolist():
        p = space.decode(u)
        key = tuple(round(v, 9) for v in space.encode(p))
        if key not in seen:
            seen.add(key)
            params.append(p)
        if len(params) == n_candidates:
            break
    values = world_target_fractions(spec, params, n_worlds, seed)
    return TabulatedTasks(space, tuple(params), torch.from_numpy(values), family="world:batio3")
