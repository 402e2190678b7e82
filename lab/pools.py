"""Real measured pools: a finite table of experiments that a benchmark campaign may only pick from.

A pool is described by one **manifest entry** (see ``../shared/data/pools/manifest.json``): ``name``,
``pool_file`` (CSV, relative to the manifest), ``inputs`` (column names), ``input_ranges``
(``{input: [low, high]}``), ``objective`` (column name), ``direction`` (``maximize``/``minimize``)
and the top cutoff as ``top<k>pct_count`` (e.g. ``top5pct_count: 30``; ``k`` gives the fraction,
the count is checked) or ``top_fraction`` (default 0.05). Optional: ``exclude_column`` (rows with a
non-zero value there are dropped; default ``olympus_removed`` when that column exists). A new pool is
added by writing its entry, never by code.

**Search space.** Inputs named ``<Element>_frac`` (a pymatgen element symbol) are cation fractions:
together they become one :class:`~lab.search_space.CompositionParameter` named ``composition``
(bounds from ``input_ranges``, sum 1). Every other input becomes a
:class:`~lab.search_space.ContinuousParameter` on its ``input_ranges``.

**Lookup instrument.** :meth:`Pool.measure` answers an experiment by looking up its row; it is pure,
which is why it lives here rather than in ``simulators/`` (benchmark flows may not import simulators).

Example:
    >>> pool = load_pool(find_pool(load_manifest("../shared/data/pools/manifest.json"), "crossed_barrel"))
    ... # doctest: +SKIP
    >>> pool.measure(pool.params_of(0)) == pool.y[0]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element

from lab.errors import LabError
from lab.search_space import CompositionParameter, ContinuousParameter, Parameter, SearchSpace

__all__ = ["Pool", "PoolError", "PoolSpec", "find_pool", "load_manifest", "load_pool"]

COMPOSITION_NAME = "composition"
_FRAC = re.compile(r"^([A-Z][a-z]?)_frac$")
_TOPK = re.compile(r"^top(\d+(?:\.\d+)?)pct_count$")
_KEY_DECIMALS = 9


class PoolError(LabError, ValueError):
    """A manifest entry or pool file is invalid, or an experiment is not in the pool."""


@dataclass(frozen=True)
class PoolSpec:
    """One manifest entry, validated.

    Attributes:
        name: pool name, e.g. ``"liang2021/crossed_barrel"``.
        path: the CSV file.
        inputs: input column names, in order.
        input_ranges: ``{input: (low, high)}`` in the column's units.
        objective: objective column name.
        direction: ``"maximize"`` or ``"minimize"``.
        top_fraction: fraction of the pool that counts as top (0.05 for top 5%).
        top_count: the manifest's stated top count, checked against the pool (``None``: not given).
        exclude_column: rows with a non-zero value in this column are dropped (``None``: none).
        entry: the raw manifest entry.
    """

    name: str
    path: Path
    inputs: tuple[str, ...]
    input_ranges: Mapping[str, tuple[float, float]]
    objective: str
    direction: str
    top_fraction: float = 0.05
    top_count: int | None = None
    exclude_column: str | None = None
    entry: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_name(self) -> str:
        """The last part of the name, e.g. ``"crossed_barrel"``."""
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], base_dir: Path, source: str = "manifest") -> PoolSpec:
        """Validate a manifest entry; ``pool_file`` is resolved against ``base_dir``.

        Raises:
            PoolError: naming the entry and every missing or invalid field.
        """
        label = f"{source} entry {entry.get('name', '?')!r}"
        entry = _normalised_entry(entry)
        problems = [f"missing field {k!r}" for k in ("name", "pool_file", "inputs", "input_ranges", "objective",
                                                       "direction") if k not in entry]
        if problems:
            raise PoolError(f"{label}: " + "; ".join(problems))
        if entry["direction"] not in ("maximize", "minimize"):
            raise PoolError(f"{label}: direction must be 'maximize' or 'minimize', got {entry['direction']!r}")
        inputs = tuple(str(c) for c in entry["inputs"])
        if not inputs:
            raise PoolError(f"{label}: inputs is empty")
        ranges: dict[str, tuple[float, float]] = {}
        for name in inputs:
            rng = entry["input_ranges"].get(name)
            if rng is None or len(rng) != 2 or not float(rng[0]) < float(rng[1]):
                raise PoolError(f"{label}: input_ranges[{name!r}] must be [low, high] with low < high, got {rng!r}")
            ranges[name] = (float(rng[0]), float(rng[1]))
        fraction, count = _top_cutoff(entry, label)
        return cls(str(entry["name"]), Path(base_dir) / str(entry["pool_file"]), inputs, ranges,
                   str(entry["objective"]), str(entry["direction"]), fraction, count,
                   entry.get("exclude_column"), dict(entry))


def _normalised_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Two manifest dialects read as one: ``parameter_spec`` (Olympus: ``[{name, low, high}, ...]``)
    supplies missing ``input_ranges``, and a one-element ``objective`` list names the objective."""
    out = dict(entry)
    spec = out.get("parameter_spec")
    if "input_ranges" not in out and isinstance(spec, list):
        ranges = {p.get("name"): [p.get("low"), p.get("high")] for p in spec if isinstance(p, Mapping)}
        out["input_ranges"] = ranges
    objective = out.get("objective")
    if isinstance(objective, list) and len(objective) == 1:
        out["objective"] = objective[0]
    return out


def _top_cutoff(entry: Mapping[str, Any], label: str) -> tuple[float, int | None]:
    if "top_fraction" in entry:
        frac = float(entry["top_fraction"])
        count = None
    else:
        found = [(float(m.group(1)) / 100.0, int(entry[k])) for k in entry if (m := _TOPK.match(k))]
        if len(found) > 1:
            raise PoolError(f"{label}: more than one top<k>pct_count field; keep one or give top_fraction")
        frac, count = found[0] if found else (0.05, None)
    if not 0.0 < frac <= 1.0:
        raise PoolError(f"{label}: the top fraction must lie in (0, 1], got {frac}")
    return frac, count


def load_manifest(path: str | Path) -> list[PoolSpec]:
    """Every entry of a manifest (a JSON list of entries).

    Raises:
        PoolError: the file is missing, not JSON, not a list, or an entry is invalid.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PoolError(f"manifest {path} not found (give --manifest or set LAB_POOLS_DIR)") from None
    except json.JSONDecodeError as exc:
        raise PoolError(f"manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise PoolError(f"manifest {path} must be a JSON list of pool entries")
    return [PoolSpec.from_entry(e, path.parent, str(path)) for e in data]


def find_pool(specs: Sequence[PoolSpec], name: str) -> PoolSpec:
    """The entry whose full name, short name or file stem is ``name``.

    Raises:
        PoolError: no entry matches (the message lists the names).
    """
    for s in specs:
        if name in (s.name, s.short_name, s.path.stem, s.path.name):
            return s
    raise PoolError(f"no pool named {name!r}; pools: {', '.join(s.name for s in specs)}")


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
