"""Real measured pools: a finite table of experiments that a benchmark campaign may only pick from.

Each pool is named by an entry of a manifest (:mod:`lab.pool_manifest`); this module reads its CSV
(replicate rows averaged) and answers experiments from it.

**Search space.** Inputs named ``<Element>_frac`` (a pymatgen element symbol) are cation fractions:
together they become one :class:`~lab.search_space.CompositionParameter` named ``composition``
(bounds from ``input_ranges``, sum 1). Every other input becomes a
:class:`~lab.search_space.ContinuousParameter` on its ``input_ranges``.

**Lookup instrument.** :meth:`Pool.measure` answers an experiment by looking up its row; it is pure,
which is why it lives here rather than in ``simulators/`` (benchmark flows may not import simulators).

Example:
    >>> from lab.pool_manifest import find_pool, load_manifest
    >>> pool = load_pool(find_pool(load_manifest("../shared/data/pools/manifest.json"), "crossed_barrel"))
    ... # doctest: +SKIP
    >>> pool.measure(pool.params_of(0)) == pool.y[0]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element

from lab.pool_manifest import PoolError, PoolSpec
from lab.search_space import (
    CompositionParameter,
    ContinuousParameter,
    Parameter,
    SearchSpace,
)

__all__ = ["Pool", "build_space", "load_pool"]

COMPOSITION_NAME = "composition"
_FRAC = re.compile(r"^([A-Z][a-z]?)_frac$")
_KEY_DECIMALS = 9


def _number(text: str, path: Path, row: int, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise PoolError(f"{path}: row {row}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PoolError(f"{path}: row {row}, column {column!r}: {text!r} is not finite")
    return value


def _read_rows(spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    try:
        with spec.path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            exclude = spec.exclude_column or ("olympus_removed" if "olympus_removed" in header else None)
            missing = [c for c in (*spec.inputs, spec.objective, *([exclude] if exclude else [])) if c not in header]
            if missing:
                raise PoolError(f"{spec.path}: missing column(s) {missing}; header is {header}")
            xs: list[list[float]] = []
            ys: list[float] = []
            for row_no, row in enumerate(reader, start=2):  # row 1 is the header
                if exclude and _number(row[exclude], spec.path, row_no, exclude) != 0.0:
                    continue
                x = [_number(row[c], spec.path, row_no, c) for c in spec.inputs]
                for c, v in zip(spec.inputs, x):
                    lo, hi = spec.input_ranges[c]
                    if not lo - 1e-9 <= v <= hi + 1e-9:
                        raise PoolError(f"{spec.path}: row {row_no}, column {c!r}: {v} is outside input_ranges "
                                        f"[{lo}, {hi}]")
                xs.append(x)
                ys.append(_number(row[spec.objective], spec.path, row_no, spec.objective))
    except FileNotFoundError:
        raise PoolError(f"pool file {spec.path} of {spec.name!r} not found") from None
    if not xs:
        raise PoolError(f"{spec.path}: the pool is empty (no data rows left)")
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def build_space(spec: PoolSpec) -> SearchSpace:
    """The search space of a pool (composition for ``<Element>_frac`` inputs, else continuous)."""
    params: list[Parameter] = []
    bounds = []
    for name in spec.inputs:
        m = _FRAC.match(name)
        if m and Element.is_valid_symbol(m.group(1)):
            lo, hi = spec.input_ranges[name]
            bounds.append((m.group(1), lo, hi))
        else:
            params.append(ContinuousParameter(name, *spec.input_ranges[name]))
    if bounds:
        params.insert(0, CompositionParameter(COMPOSITION_NAME, tuple(bounds), 1.0))
    return SearchSpace(tuple(params))


@dataclass(frozen=True, eq=False)
class Pool:
    """A loaded pool: raw inputs, objective values and the top rows.

    Attributes:
        spec: its manifest entry.
        space: the search space its rows live in.
        X: raw inputs, shape ``(N, d)`` in the columns' units (read-only).
        y: objective values, shape ``(N,)`` (read-only).
        top: indices of the ``n_top`` best rows, best first (ties broken by row order).
    """

    spec: PoolSpec
    space: SearchSpace
    X: np.ndarray
    y: np.ndarray
    top: tuple[int, ...]
    _index: Mapping[tuple[float, ...], int] = field(repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def direction(self) -> str:
        return self.spec.direction

    @property
    def objective(self) -> str:
        return self.spec.objective

    @property
    def n(self) -> int:
        """Number of rows ``N``."""
        return int(self.X.shape[0])

    @property
    def n_top(self) -> int:
        """``ceil(top_fraction * N)``."""
        return len(self.top)

    def params_of(self, i: int) -> dict[str, Any]:
        """The parameter dict of row ``i``, valid in :attr:`space`."""
        row = dict(zip(self.spec.inputs, (float(v) for v in self.X[int(i)])))
        out: dict[str, Any] = {}
        for p in self.space.parameters:
            if isinstance(p, CompositionParameter):
                out[p.name] = {e: row[f"{e}_frac"] for e in p.elements}
            else:
                out[p.name] = row[p.name]
        return out

    def _raw(self, params: Mapping[str, Any]) -> tuple[float, ...]:
        flat: dict[str, float] = {}
        for name, value in params.items():
            if isinstance(value, Mapping):
                flat.update({f"{e}_frac": float(v) for e, v in value.items()})
            else:
                flat[name] = float(value)
        try:
            return tuple(round(flat[c], _KEY_DECIMALS) + 0.0 for c in self.spec.inputs)
        except KeyError as exc:
            raise PoolError(f"{self.name}: parameters {dict(params)!r} lack input {exc.args[0]!r}") from None

    def index_of(self, params: Mapping[str, Any]) -> int:
        """The row whose inputs equal ``params`` (to 9 decimals).

        Raises:
            PoolError: no row of the pool has these inputs.
        """
        key = self._raw(params)
        if key not in self._index:
            raise PoolError(f"{self.name}: no row has inputs {dict(zip(self.spec.inputs, key))}; a pool "
                            "instrument can only run experiments that are in its table")
        return self._index[key]

    def measure(self, params: Mapping[str, Any]) -> float:
        """The pool instrument: the objective value of the row with inputs ``params`` (by lookup)."""
        return float(self.y[self.index_of(params)])

    def candidates(self) -> list[dict[str, Any]]:
        """Every row as a parameter dict, in row order."""
        return [self.params_of(i) for i in range(self.n)]


def load_pool(spec: PoolSpec) -> Pool:
    """Read and validate the pool's CSV.

    Raises:
        PoolError: missing file or column, non-numeric or out-of-range value (naming file, row and
            column), empty pool, or a top count that disagrees with the manifest (counted after
            replicate rows are averaged into one).
    """
    X_raw, y_raw = _read_rows(spec)
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, row in enumerate(X_raw):
        groups.setdefault(tuple(round(float(v), _KEY_DECIMALS) + 0.0 for v in row), []).append(i)
    # replicate rows (the same inputs measured again) become one row with their mean, as Liang et al. do
    X = np.asarray([X_raw[rows[0]] for rows in groups.values()], dtype=np.float64)
    y = np.asarray([float(np.mean(y_raw[rows])) for rows in groups.values()], dtype=np.float64)
    index = {key: i for i, key in enumerate(groups)}
    n_top = math.ceil(spec.top_fraction * len(y) - 1e-9)
    if spec.top_count is not None and spec.top_count != n_top:
        raise PoolError(f"{spec.name}: the manifest says {spec.top_count} top rows but ceil({spec.top_fraction} x "
                        f"{len(y)}) = {n_top}")
    sign = -1.0 if spec.direction == "maximize" else 1.0
    order = np.argsort(sign * y, kind="stable")
    X.setflags(write=False)
    y.setflags(write=False)
    return Pool(spec, build_space(spec), X, y, tuple(int(i) for i in order[:n_top]), index)
