"""Pool manifests: which real measured pools exist, where their CSVs lie, and how each is scored.

A pool is described by one **manifest entry** (see ``../shared/data/pools/manifest.json``): ``name``,
``pool_file`` (CSV, relative to the manifest), ``inputs`` (column names), ``input_ranges``
(``{input: [low, high]}``), ``objective`` (column name), ``direction`` (``maximize``/``minimize``)
and the top cutoff as ``top<k>pct_count`` (e.g. ``top5pct_count: 30``; ``k`` gives the fraction,
the count is checked) or ``top_fraction`` (default 0.05). Optional: ``exclude_column`` (rows with a
non-zero value there are dropped; default ``olympus_removed`` when that column exists). A new pool is
added by writing its entry, never by code. The rows themselves are read by :mod:`lab.pools`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import LabError

__all__ = ["PoolError", "PoolSpec", "find_pool", "load_manifest"]

_TOPK = re.compile(r"^top(\d+(?:\.\d+)?)pct_count$")


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
