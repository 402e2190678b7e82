"""Training and evaluation tasks: simulated campaigns with a known answer.

A task is a real :class:`~lab.search_space.SearchSpace`, a finite set of ``K`` feasible candidates
(parameter dicts and their unit-cube encodings) and the true objective value of each (larger is
better), plus the measurement noise. Because the space and the parameter dicts are real, the same
task can be run by the RL environment (tensors) and by any :class:`~policies.protocol.Policy`
(``qlognei``, ``random``) for a paired comparison.

Families:

* :class:`RandomFeatureTasks`: functions drawn from a GP prior with a Matern-5/2 kernel, by random
  Fourier features, over continuous, mixed (integer + categorical) and compositional spaces
  (``kinds``), with dimensions, lengthscales and noise drawn from stated ranges.
* :class:`TabulatedTasks`: values computed elsewhere (the materials world family, built in
  ``flows.training.world_tasks`` because policies may not import simulators), ``W`` variants over
  one space; each task takes one variant and a random subset of its candidates.

Example:
    >>> tasks = RandomFeatureTasks(kinds=("continuous",), dims=(2, 3)).sample(4, seed=0, n_candidates=32)
    >>> tuple(tasks.candidates.shape), tuple(tasks.values.shape)
    ((4, 32, 3), (4, 32))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from lab.search_space import (
    CategoricalParameter,
    CompositionParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
)

__all__ = ["KINDS", "RandomFeatureTasks", "TabulatedTasks", "TaskBatch", "TaskFamily", "build_batch", "concat",
           "random_candidates", "random_space"]

KINDS = ("continuous", "mixed", "composition")


@dataclass(frozen=True)
class TaskBatch:
    """``B`` tasks padded to ``K`` candidates and ``d`` features.

    Attributes:
        candidates: encodings ``(B, K, d)`` (zero-padded beyond each task's dimension).
        values: true objective values ``(B, K)`` (larger is better).
        noise_sd: measurement noise standard deviation per task ``(B,)``, in value units.
        dims: each task's true dimension ``(B,)``.
        spaces: the search space of each task; params: each task's ``K`` candidate dicts.
        family: a label per task, e.g. ``"rff:mixed"`` or ``"world"``.
        lengthscale: the generating lengthscale in units of sqrt(dim) (NaN for tabulated tasks).
    """

    candidates: Tensor
    values: Tensor
    noise_sd: Tensor
    dims: Tensor
    spaces: tuple[SearchSpace, ...]
    params: tuple[tuple[dict[str, Any], ...], ...]
    family: tuple[str, ...]
    lengthscale: Tensor

    def __len__(self) -> int:
        return int(self.values.shape[0])


class TaskFamily(Protocol):
    """Anything that draws task batches."""

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch: ...


def random_space(kind: str, d: int, rng: np.random.Generator) -> SearchSpace:
    """A space of ``kind`` whose encoding has exactly ``d`` features.

    Mixed spaces need ``d >= 4`` (a continuous, an integer and a 2-way categorical parameter) and
    compositional ones ``d >= 4`` (3 elements and a continuous parameter); below that the space is
    continuous.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {KINDS}")
    if kind == "mixed" and d >= 4:
        n_choice = int(rng.integers(2, min(3, d - 2) + 1))
        n_int = 1 if d - n_choice <= 3 else 2
        params: list[Any] = [ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(d - n_int - n_choice)]
        params += [IntegerParameter(f"n{i}", 1, int(rng.integers(3, 9))) for i in range(n_int)]
        params.append(CategoricalParameter("c", tuple(f"c{j}" for j in range(n_choice))))
        return SearchSpace(tuple(params))
    if kind == "composition" and d >= 4:
        n_el = 3 if d <= 5 else 4
        elements = ("Ba", "Ti", "Sr", "Ca")[:n_el]
        comp = CompositionParameter("cations", tuple((e, 0.0, 1.0) for e in elements), 1.0)
        return SearchSpace((comp, *(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(d - n_el))))
    return SearchSpace(tuple(ContinuousParameter(f"x{i}", 0.0, 1.0) for i in range(d)))


def random_candidates(space: SearchSpace, k: int, rng: np.random.Generator) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Up to ``k`` distinct feasible candidates (decoded uniform points) and their encodings ``(k, dim)``."""
    params: list[dict[str, Any]] = []
    rows: list[list[float]] = []
    seen: set[tuple[float, ...]] = set()
    for _ in range(20):
        for u in rng.random((k, space.dim)):
            p = space.decode(u.tolist())
            enc = space.encode(p)
            key = tuple(round(v, 9) for v in enc)
            if key not in seen:
                seen.add(key)
                params.append(p)
                rows.append(enc)
            if len(params) == k:
                return params, np.asarray(rows)
    return params, np.asarray(rows)


def _pad(rows: Sequence[np.ndarray], k: int, d: int) -> Tensor:
    out = torch.zeros(len(rows), k, d, dtype=torch.float64)
    for i, r in enumerate(rows):
        out[i, : r.shape[0], : r.shape[1]] = torch.from_numpy(r)
    return out


def build_batch(spaces: Sequence[SearchSpace], params: Sequence[Sequence[dict[str, Any]]], rows: Sequence[np.ndarray],
                values: Sequence[np.ndarray], noise: Sequence[float], family: Sequence[str],
                lengthscale: Sequence[float] | None = None) -> TaskBatch:
    """A :class:`TaskBatch` from per-task lists: encodings ``(K_i, d_i)`` and true values ``(K_i,)``,
    padded to the largest ``K`` and ``d`` (values NaN, encodings zero)."""
    n = len(values)
    k, d = max(len(v) for v in values), max(r.shape[1] for r in rows)
    vals = torch.full((n, k), float("nan"), dtype=torch.float64)
    for i, v in enumerate(values):
        vals[i, : len(v)] = torch.as_tensor(np.asarray(v, dtype=np.float64))
    ls = [float("nan")] * n if lengthscale is None else list(lengthscale)
    return TaskBatch(_pad(rows, k, d), vals, torch.tensor(list(noise), dtype=torch.float64),
                     torch.tensor([int(r.shape[1]) if s is None else s.dim for r, s in zip(rows, spaces)]),
                     tuple(spaces), tuple(tuple(p) for p in params), tuple(family), torch.tensor(ls, dtype=torch.float64))


@dataclass(frozen=True)
class RandomFeatureTasks:
    """Functions from a Matern-5/2 GP prior (random Fourier features) over random spaces.

    Args:
        kinds: space kinds to draw from (:data:`KINDS`).
        dims: inclusive range of encoded dimensions.
        lengthscale: range of lengthscales, in units of sqrt(dim), drawn log-uniformly.
        noise: range of noise standard deviations relative to the function's standard deviation.
        n_features: random Fourier features per function.
    """

    kinds: tuple[str, ...] = KINDS
    dims: tuple[int, int] = (2, 6)
    lengthscale: tuple[float, float] = (0.1, 0.4)
    noise: tuple[float, float] = (0.0, 0.1)
    n_features: int = 256

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        """``n`` tasks with ``n_candidates`` candidates each, reproducible from ``seed``."""
        rng = np.random.default_rng([int(seed), 7919])
        spaces, params, rows, values, noise, dims, ls_all, fam = [], [], [], [], [], [], [], []
        for _ in range(n):
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
            space = random_space(kind, int(rng.integers(self.dims[0], self.dims[1] + 1)), rng)
            p, x = random_candidates(space, n_candidates, rng)
            ls = math.exp(rng.uniform(math.log(self.lengthscale[0]), math.log(self.lengthscale[1])))
            dof = 5.0  # Matern-nu spectral density is a Student-t with 2 nu degrees of freedom
            omega = rng.standard_normal((self.n_features, space.dim)) / np.sqrt(rng.chisquare(dof, (self.n_features, 1)) / dof)
            phase = rng.uniform(0, 2 * math.pi, self.n_features)
            weights = rng.standard_normal(self.n_features)
            f = np.sqrt(2.0 / self.n_features) * np.cos(x @ omega.T / (ls * math.sqrt(space.dim)) + phase) @ weights
            spaces.append(space)
            params.append(tuple(p))
            rows.append(x)
            values.append(f)
            noise.append(rng.uniform(*self.noise) * float(np.std(f) + 1e-12))
            dims.append(space.dim)
            ls_all.append(ls)
            fam.append(f"rff:{kind}")
        return build_batch(spaces, params, rows, values, noise, fam, ls_all)


@dataclass(frozen=True)
class TabulatedTasks:
    """Tasks from precomputed values: ``W`` variants of one objective over one candidate list.

    Args:
        space: the search space; params: the ``P`` candidate dicts; values: ``(W, P)`` true values.
        noise: relative noise range, as for :class:`RandomFeatureTasks`; family: label of the tasks.
    """

    space: SearchSpace
    params: tuple[dict[str, Any], ...]
    values: Tensor
    noise: tuple[float, float] = (0.0, 0.05)
    family: str = "world"

    def sample(self, n: int, seed: int, n_candidates: int) -> TaskBatch:
        """``n`` tasks: a random variant each and a random subset of ``n_candidates`` candidates."""
        rng = np.random.default_rng([int(seed), 104729])
        enc = np.asarray([self.space.encode(p) for p in self.params])
        k = min(n_candidates, len(self.params))
        rows, vals, params, noise = [], [], [], []
        for _ in range(n):
            w = int(rng.integers(self.values.shape[0]))
            idx = rng.choice(len(self.params), size=k, replace=False)
            v = self.values[w, torch.from_numpy(idx)]
            rows.append(enc[idx])
            vals.append(v)
            params.append(tuple(self.params[i] for i in idx))
            noise.append(rng.uniform(*self.noise) * float(v.std()))
        return TaskBatch(_pad(rows, k, self.space.dim), torch.stack(vals).to(torch.float64),
                         torch.tensor(noise, dtype=torch.float64), torch.full((n,), self.space.dim),
                         (self.space,) * n, tuple(params), (self.family,) * n,
                         torch.full((n,), float("nan"), dtype=torch.float64))


def concat(batches: Sequence[TaskBatch]) -> TaskBatch:
    """One batch from several (padded to the largest ``K`` and ``d``)."""
    k = max(b.values.shape[1] for b in batches)
    d = max(b.candidates.shape[2] for b in batches)
    cand = torch.cat([torch.nn.functional.pad(b.candidates, (0, d - b.candidates.shape[2], 0, k - b.candidates.shape[1]))
                      for b in batches])
    vals = torch.cat([torch.nn.functional.pad(b.values, (0, k - b.values.shape[1]), value=float("nan")) for b in batches])
    return TaskBatch(cand, vals, torch.cat([b.noise_sd for b in batches]), torch.cat([b.dims for b in batches]),
                     tuple(s for b in batches for s in b.spaces), tuple(p for b in batches for p in b.params),
                     tuple(f for b in batches for f in b.family), torch.cat([b.lengthscale for b in batches]))
