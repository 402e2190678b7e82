"""Training task families with structure, each labelled so it can be scored on its own.

MetaBO's finding is that a learned acquisition only beats the classic ones where its training
tasks have structure it can exploit; these families give it the structures real pools show:

* :class:`StructuredGPTasks` (``"ard"``): GP draws (random Fourier features) with a lengthscale per
  dimension, some dimensions irrelevant, Kumaraswamy input warping and a monotone output
  transform (as in the HEBO/PFNs4BO priors).
* :class:`MLPTasks` (``"mlp"``): random two-layer tanh networks of the inputs (the BNN prior).
* :class:`TreeGridTasks` (``"grid"``): sums of random axis-aligned trees (piecewise constant) plus
  a small smooth part, on ordinal grids of 3-11 levels per dimension, with replicate noise and a
  few duplicated rows: the shape of crossed_barrel-like design-of-experiments pools.
* :class:`PoolTasks` (``"pool:<name>"``): a real measured pool (rows and values, from the training
  pools only), either as measured (a random subset of rows) or through a surrogate fitted to
  perturbed inputs (``"gp"``: ARD GP mean; ``"trees"``: extra-trees mean), as NAP does.

All families draw continuous or mixed spaces of 2-6 encoded dimensions and return a
:class:`~policies.rl.tasks.TaskBatch` whose ``family`` labels each task.

Example:
    >>> tasks = TreeGridTasks(dims=(2, 3)).sample(3, seed=0, n_candidates=50)
    >>> tasks.family[0], tuple(tasks.values.shape)[0]
    ('grid', 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab.search_space import ContinuousParameter, SearchSpace
from policies.rl.tasks import TaskBatch, build_batch, random_candidates, random_space
from policies.surrogates.gp import fit_gp
from policies.surrogates.trees import fit_trees

__all__ = ["MLPTasks", "PoolTasks", "StructuredGPTasks", "TreeGridTasks"]


def _output_transform(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random monotone transform of standardised values: identity, exp, a power, or a saturating tanh."""
    z = (f - f.mean()) / (f.std() + 1e-12)
    kind = int(rng.integers(4))
    if kind == 1:
        return np.exp(rng.uniform(0.3, 1.2) * z)
    if kind == 2:
        return np.sign(z) * np.abs(z) ** rng.uniform(0.5, 2.0)
    if kind == 3:
        return np.tanh(rng.uniform(0.5, 1.5) * z)
    return z


def _warp(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kumaraswamy CDF warping per dimension, ``1 - (1 - x^a)^b`` with ``a, b`` in ``[0.5, 2]``."""
    a = np.exp(rng.uniform(math.log(0.5), math.log(2.0), x.shape[1]))
    b = np.exp(rng.uniform(math.log(0.5), math.log(2.0), x.shape[1]))
    return 1.0 - (1.0 - np.clip(x, 0, 1) ** a) ** b


def _functions_on_random_spaces(n: int, rng: np.random.Generator, dims: tuple[int, int], n_candidates: int,
                                noise: tuple[float, float], family: str,
                                function: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> TaskBatch:
    """``n`` tasks: a random space of ``dims`` encoded dimensions each, ``n_candidates`` candidates, and
    ``function(encodings, rng)`` through a random monotone output transform as the true values."""
    out: dict[str, list[Any]] = {k: [] for k in ("spaces", "params", "rows", "values", "noise")}
    for _ in range(n):
        kind = ("continuous", "mixed", "composition")[int(rng.integers(3))]
        space = random_space(kind, int(rng.integers(dims[0], dims[1] + 1)), rng)
        p, x = random_candidates(space, n_candidates, rng)
        f = _output_transform(function(x, rng), rng)
        for k, v in (("spaces", space), ("params", p), ("rows", x), ("values", f),
                     ("noise", rng.uniform(*noise) * float(f.std() + 1e-12))):
            out[k].append(v)
    return build_batch(out["spaces"], out["params"], out["rows"], out["values"], out["noise"], [family] * n)


@dataclass(frozen=True)
class StructuredGPTasks:
    """ARD GP draws with irrelevant dimensions, warping and output transforms.

    Args:
        dims: inclusive range of encoded dimensions; lengthscale: per-dimension range (units of the
        unit cube), log-uniform; irrelevant: chance that a dimension does not matter; noise: range of
        noise sd relative to the values' sd; n_features: random Fourier features.
    """

    dims: tuple[int, int] = (2, 6)
    lengthscale: tuple[float, float] = (0.08, 0.8)
    irrelevant: float = 0.3
    noise: tuple[float, float] = (0.0, 0.15)
    n_features: int = 256
    family: str = "ard"

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        return _functions_on_random_spaces(n, np.random.default_rng([int(seed), 31337]), self.dims, n_candidates,
                                           self.noise, self.family, self._function)

    def _function(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        d = x.shape[1]
        ls = np.exp(rng.uniform(math.log(self.lengthscale[0]), math.log(self.lengthscale[1]), d))
        ls[rng.random(d) < self.irrelevant] = 1e3
        ls[int(rng.integers(d))] = min(ls.min(), self.lengthscale[1])  # at least one dimension matters
        xw = _warp(x, rng) if rng.random() < 0.5 else x
        omega = rng.standard_normal((self.n_features, d)) / np.sqrt(rng.chisquare(5.0, (self.n_features, 1)) / 5.0)
        phase = rng.uniform(0, 2 * math.pi, self.n_features)
        return np.cos((xw / ls) @ omega.T + phase) @ rng.standard_normal(self.n_features)


@dataclass(frozen=True)
class MLPTasks:
    """Random two-layer tanh networks ``w2 . tanh(W1 x + b1)`` with 8-64 hidden units."""

    dims: tuple[int, int] = (2, 6)
    noise: tuple[float, float] = (0.0, 0.15)
    family: str = "mlp"

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        return _functions_on_random_spaces(n, np.random.default_rng([int(seed), 27183]), self.dims, n_candidates,
                                           self.noise, self.family, self._function)

    @staticmethod
    def _function(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h = int(rng.integers(8, 65))
        scale = rng.uniform(1.0, 6.0)
        W1 = rng.standard_normal((x.shape[1], h)) * scale
        b1 = rng.uniform(-scale, scale, h) * 0.5
        return np.tanh((x - 0.5) @ W1 + b1) @ rng.standard_normal(h)


def _tree_function(x: np.ndarray, rng: np.random.Generator, n_trees: int, depth: int) -> np.ndarray:
    """Sum of ``n_trees`` random axis-aligned trees of ``depth`` levels evaluated at ``x`` ``(K, d)``."""
    f = np.zeros(x.shape[0])
    for _ in range(n_trees):
        node = np.zeros(x.shape[0], dtype=np.int64)
        feats = rng.integers(x.shape[1], size=2 ** depth)
        thr = rng.uniform(0.15, 0.85, size=2 ** depth)
        for _level in range(depth):
            node = 2 * node + (x[np.arange(len(x)), feats[node]] > thr[node])
        f += rng.standard_normal(2 ** depth)[node]
    return f


@dataclass(frozen=True)
class TreeGridTasks:
    """Piecewise-constant functions on ordinal grids, with replicate noise and duplicate rows."""

    dims: tuple[int, int] = (2, 6)
    levels: tuple[int, int] = (3, 11)
    noise: tuple[float, float] = (0.02, 0.3)
    duplicates: float = 0.05
    family: str = "grid"

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        rng = np.random.default_rng([int(seed), 16180])
        out: dict[str, list[Any]] = {k: [] for k in ("spaces", "params", "rows", "values", "noise")}
        for _ in range(n):
            d = int(rng.integers(self.dims[0], self.dims[1] + 1))
            levels = rng.integers(self.levels[0], self.levels[1] + 1, size=d)
            while int(np.prod(levels)) < n_candidates and levels.max() < 4 * self.levels[1]:
                levels[int(rng.integers(d))] += 1  # a grid at least as large as the candidates asked for
            grid = np.stack(np.meshgrid(*[np.linspace(0, 1, int(g)) for g in levels], indexing="ij"), -1).reshape(-1, d)
            n_dup = int(self.duplicates * n_candidates)
            x = grid[rng.permutation(len(grid))[: n_candidates - n_dup]]
            if n_dup:  # replicate rows: the same inputs again, measured with fresh noise
                x = np.concatenate([x, x[rng.integers(len(x), size=n_dup)]])
            f = _tree_function(x, rng, int(rng.integers(2, 7)), int(rng.integers(2, 5)))
            f = f + rng.uniform(0, 0.5) * np.sin(x @ rng.standard_normal(d) * 3)
            f = _output_transform(f, rng)
            space = SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(d)))
            params = [{f"x{i}": float(v) for i, v in enumerate(row)} for row in x]
            for k, v in (("spaces", space), ("params", params), ("rows", x), ("values", f),
                         ("noise", rng.uniform(*self.noise) * float(f.std() + 1e-12))):
                out[k].append(v)
        return build_batch(out["spaces"], out["params"], out["rows"], out["values"], out["noise"], [self.family] * n)


@dataclass(frozen=True)
class PoolTasks:
    """Tasks from one real pool: ``rows`` ``(P, d)`` encoded inputs, ``values`` ``(P,)`` (larger is better).

    Args:
        name: the pool's short name (task label ``"pool:<name>"``); space, params: its search space and rows.
        mode_weights: chances of ``("raw", "gp", "trees")`` tasks; perturb: sd of the input
            perturbation before a surrogate is fitted (unit-cube units); noise: relative noise range.
    """

    name: str
    space: SearchSpace
    params: tuple[dict[str, Any], ...]
    rows: np.ndarray
    values: np.ndarray
    mode_weights: tuple[float, float, float] = (0.4, 0.3, 0.3)
    perturb: float = 0.05
    noise: tuple[float, float] = (0.0, 0.05)

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        rng = np.random.default_rng([int(seed), 14142])
        out: dict[str, list[Any]] = {k: [] for k in ("spaces", "params", "rows", "values", "noise")}
        P = len(self.values)
        for _ in range(n):
            k = min(P, n_candidates)
            idx = rng.choice(P, size=k, replace=False)
            x = self.rows[idx]
            mode = int(rng.choice(3, p=np.asarray(self.mode_weights) / sum(self.mode_weights)))
            f = self.values[idx].astype(np.float64)
            if mode:
                fit_idx = rng.choice(P, size=min(P, 400), replace=False)
                Xf = torch.from_numpy(np.clip(self.rows[fit_idx] + rng.normal(0, self.perturb, (len(fit_idx), x.shape[1])),
                                              0, 1))[None]
                yf = torch.from_numpy(self.values[fit_idx].astype(np.float64))[None]
                mask = torch.ones(1, len(fit_idx), dtype=torch.bool)
                C = torch.from_numpy(x)[None]
                if mode == 1:
                    f = fit_gp(Xf, yf, mask, steps=40).predict(C)[0][0].numpy()
                else:
                    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
                    f = fit_trees(Xf, yf, mask, C, n_trees=8, depth=10, generator=g).mean[0].numpy()
            f = _output_transform(f, rng) if rng.random() < 0.5 else (f - f.mean()) / (f.std() + 1e-12)
            for key, v in (("spaces", self.space), ("params", [self.params[i] for i in idx]), ("rows", x),
                           ("values", f), ("noise", rng.uniform(*self.noise) * float(f.std() + 1e-12))):
                out[key].append(v)
        return build_batch(out["spaces"], out["params"], out["rows"], out["values"], out["noise"],
                           [f"pool:{self.name}"] * n)
