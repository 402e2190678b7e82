"""Training configuration for ``lab train``: a TOML file, every key optional.

Example file::

    name = "rl-small"
    seed = 0
    envs = 32                  # campaigns stepped at once
    candidates = 256           # candidates per campaign
    horizon = 50               # experiments per campaign, the 2 random initial ones included
    max_delay = 3              # a result arrives 0..3 decisions after its pick
    imitation_iterations = 30  # warm start: imitate the LogEI/qLogNEI pick
    ppo_iterations = 120
    eval_every = 10            # held-out evaluation every 10 iterations
    # shares of the task families (policies.rl.families; the rest: isotropic random-feature GP tasks)
    world_fraction = 0.1       # materials world (BaTiO3 spec)
    ard_fraction = 0.2         # ARD GP draws, irrelevant dimensions, warping, output transforms
    mlp_fraction = 0.15        # random MLP functions
    grid_fraction = 0.2        # piecewise-constant functions on ordinal grids
    pool_fraction = 0.25       # the training pools, measured and through fitted surrogates
    train_pools = ""           # their manifest (default: $LAB_TRAIN_POOLS_DIR or ../shared/data/train_pools)

Example:
    >>> TrainConfig.from_dict({"envs": 8, "ppo_iterations": 2}).planned_iterations
    32
    >>> TrainConfig.from_dict({"envs": 0})
    Traceback (most recent call last):
    ...
    flows.errors.TrainingConfigError: training config: envs must be an integer >= 1, got 0
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from flows.errors import TrainingConfigError

__all__ = ["TrainConfig", "load_train_config"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (see the module docstring for units)."""

    name: str = "rl"
    seed: int = 0
    envs: int = 32
    candidates: int = 256
    horizon: int = 50
    max_delay: int = 3
    n_init: int = 2
    hidden: int = 64
    layers: int = 2
    hedge: bool = True
    imitation_iterations: int = 30
    imitation_epochs: int = 8
    imitation_batch: int = 256
    imitation_lr: float = 1e-3
    ppo_iterations: int = 120
    ppo_lr: float = 3e-4
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    clip: float = 0.2
    entropy_coef: float = 0.003
    eval_every: int = 10
    eval_tasks: int = 64
    eval_seed: int = 1_000_000
    checkpoint_every: int = 5
    dims_low: int = 2
    dims_high: int = 6
    lengthscale_low: float = 0.1
    lengthscale_high: float = 0.4
    noise_high: float = 0.1
    world_fraction: float = 0.1
    world_variants: int = 8
    world_candidates: int = 1024
    ard_fraction: float = 0.2
    mlp_fraction: float = 0.15
    grid_fraction: float = 0.2
    pool_fraction: float = 0.25
    train_pools: str = ""
    gp_steps: int = 60
    warm_steps: int = 6
    trees: int = 32

    @property
    def planned_iterations(self) -> int:
        return self.imitation_iterations + self.ppo_iterations

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Validate ``data``; unknown keys and bad values raise :class:`TrainingConfigError` naming them."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise TrainingConfigError(f"training config: unknown key(s) {unknown}; known keys: {sorted(known)}")
        out: dict[str, Any] = {}
        for key, value in data.items():
            default = known[key].default
            if isinstance(default, bool) or isinstance(default, str):
                if not isinstance(value, type(default)):
                    raise TrainingConfigError(f"training config: {key} must be a {type(default).__name__}, got {value!r}")
            elif isinstance(default, int):
                minimum = 0 if key in ("imitation_iterations", "ppo_iterations", "max_delay", "seed") else 1
                if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                    raise TrainingConfigError(f"training config: {key} must be an integer >= {minimum}, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise TrainingConfigError(f"training config: {key} must be a number >= 0, got {value!r}")
            out[key] = float(value) if isinstance(default, float) else value
        cfg = cls(**out)
        if cfg.dims_low > cfg.dims_high or cfg.lengthscale_low > cfg.lengthscale_high:
            raise TrainingConfigError("training config: need dims_low <= dims_high and lengthscale_low <= lengthscale_high")
        shares = cfg.world_fraction + cfg.ard_fraction + cfg.mlp_fraction + cfg.grid_fraction + cfg.pool_fraction
        if shares > 1 + 1e-9:
            raise TrainingConfigError(f"training config: world, ard, mlp, grid and pool fractions add up to {shares:.3g}; "
                                      "they must add up to at most 1 (the rest are isotropic GP tasks)")
        if cfg.candidates < cfg.horizon:
            raise TrainingConfigError(f"training config: candidates ({cfg.candidates}) must be at least the horizon "
                                      f"({cfg.horizon}): a campaign cannot run more experiments than it has candidates")
        if cfg.n_init >= cfg.horizon:
            raise TrainingConfigError(f"training config: horizon ({cfg.horizon}) must exceed n_init ({cfg.n_init})")
        return cfg


def load_train_config(path: str | Path | None) -> TrainConfig:
    """The configuration in ``path`` (TOML), or the defaults when ``path`` is ``None``.

    Raises:
        TrainingConfigError: unreadable file, bad TOML, unknown keys or bad values.
    """
    if path is None:
        return TrainConfig()
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise TrainingConfigError(f"cannot read training config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TrainingConfigError(f"training config {path} is not valid TOML: {exc}") from exc
    return TrainConfig.from_dict(data)
