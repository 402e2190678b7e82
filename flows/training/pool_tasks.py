"""The training pools as task families: ``../shared/data/train_pools`` (training and checkpoint choice only).

The evaluation pools (``../shared/data/pools``) are never read here: :func:`train_pools_manifest`
refuses a manifest that lists one of their names, so a mistyped path cannot train on evaluation data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from flows.errors import TrainingConfigError
from lab.pool_manifest import PoolError, load_manifest
from lab.pools import load_pool
from policies.rl.families import PoolTasks

__all__ = ["EVALUATION_POOLS", "ENV_TRAIN_POOLS", "pool_families", "train_pools_manifest"]

ENV_TRAIN_POOLS = "LAB_TRAIN_POOLS_DIR"
#: Pools reserved for evaluation (``../shared/data/pools``): never trained on.
EVALUATION_POOLS = frozenset({"liang2021/p3ht", "liang2021/crossed_barrel", "rohr2020_oer/plate_3496"})


def train_pools_manifest(configured: str = "") -> Path | None:
    """The training pools' manifest: ``configured``, else ``$LAB_TRAIN_POOLS_DIR``, else
    ``../shared/data/train_pools`` from the working directory; ``None`` when none exists."""
    for root in (configured, os.environ.get(ENV_TRAIN_POOLS, ""), str(Path("..") / "shared" / "data" / "train_pools")):
        if root:
            path = Path(root)
            path = path if path.suffix == ".json" else path / "manifest.json"
            if path.is_file():
                return path
            if root == configured:
                raise TrainingConfigError(f"training config: train_pools {configured!r} has no manifest.json")
    return None


def pool_families(manifest: Path) -> list[PoolTasks]:
    """One :class:`PoolTasks` per pool of ``manifest`` (values signed so that larger is better).

    Raises:
        TrainingConfigError: the manifest does not load, or names an evaluation pool.
    """
    try:
        specs = load_manifest(manifest)
        banned = sorted(s.name for s in specs if s.name in EVALUATION_POOLS)
        if banned:
            raise TrainingConfigError(f"{manifest} lists evaluation pool(s) {banned}; training uses the training "
                                      "pools only")
        out = []
        for spec in specs:
            pool = load_pool(spec)
            params = tuple(pool.params_of(i) for i in range(pool.n))
            rows = np.asarray([pool.space.encode(p) for p in params], dtype=np.float64)
            sign = 1.0 if pool.direction == "maximize" else -1.0
            out.append(PoolTasks(spec.short_name, pool.space, params, rows, sign * np.asarray(pool.y, dtype=np.float64)))
        return out
    except PoolError as exc:
        raise TrainingConfigError(f"training pools: {exc}") from exc
