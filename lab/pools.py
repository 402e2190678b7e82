"""Real measured pools: a finite table of experiments that a benchmark campaign may only pick from.

Each pool is named by an entry of a manifest (:mod:`lab.pool_manifest`); this module loads its CSV
(:mod:`lab.pool_csv`: every cell checked, replicate rows merged as the entry's ``replicates`` says,
by their mean unless told otherwise) and answers experiments from it.

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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.core import Element

from lab.errors import PoolError
from lab.pool_csv import group_replicates, read_rows, row_key
from lab.pool_manifest import PoolSpec
from lab.search_space import (
    CompositionParameter,
    ContinuousParameter,
    Parameter,
    SearchSpace,
)

__all__ = ["Pool", "build_space", "load_pool"]

COMPOSITION_NAME = "composition"
_FRAC = re.compile(r"^([A-Z][a-z]?)_frac$")


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
        raw_rows: data rows read from the file (after excluded rows), before replicates are merged.
        merged_rows: rows merged into another with the same inputs (``raw_rows - n``).
        replicate_groups: distinct inputs that had more than one row.
    """

    spec: PoolSpec
    space: SearchSpace
    X: np.ndarray
    y: np.ndarray
    top: tuple[int, ...]
    _index: Mapping[tuple[float, ...], int] = field(repr=False)
    raw_rows: int = 0
    merged_rows: int = 0
    replicate_groups: int = 0

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
            return row_key([flat[c] for c in self.spec.inputs])
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
    """Read and validate the pool's CSV and merge its replicate rows.

    Raises:
        PoolError: missing, unreadable or oversized file, missing column, non-numeric, non-finite or
            out-of-range values (one line each, naming file, row and column), empty pool, replicate
            rows when the entry's ``replicates`` is ``"refuse"``, or a top count that disagrees with the
            manifest (counted after replicate rows are merged into one).
    """
    X_raw, y_raw, lines = read_rows(spec)
    g = group_replicates(spec, X_raw, y_raw, lines)
    n_top = math.ceil(spec.top_fraction * len(g.y) - 1e-9)
    if spec.top_count is not None and spec.top_count != n_top:
        raise PoolError.of(str(spec.path), [f"{spec.name}: the manifest says {spec.top_count} top rows but "
                                            f"ceil({spec.top_fraction} x {len(g.y)}) = {n_top} (after {g.merged_rows} "
                                            f"replicate rows were merged)"])
    sign = -1.0 if spec.direction == "maximize" else 1.0
    order = np.argsort(sign * g.y, kind="stable")
    g.X.setflags(write=False)
    g.y.setflags(write=False)
    index = {key: i for i, key in enumerate(g.keys)}
    return Pool(spec, build_space(spec), g.X, g.y, tuple(int(i) for i in order[:n_top]), index,
                g.raw_rows, g.merged_rows, g.replicate_groups)
