"""Pool manifests: which real measured pools exist, where their CSVs lie, and how each is scored.

A pool is described by one **manifest entry** (see ``../shared/data/pools/manifest.json``): ``name``,
``pool_file`` (CSV, relative to the manifest), ``inputs`` (column names), ``input_ranges``
(``{input: [low, high]}``), ``objective`` (column name, or a one-element list of one), ``direction``
(``maximize``/``minimize``) and the top cutoff as ``top<k>pct_count`` (e.g. ``top5pct_count: 30``;
``k`` gives the fraction, the count is checked) or ``top_fraction`` (default 0.05). Optional:
``exclude_column`` (rows with a non-zero value there are dropped; default ``olympus_removed`` when
that column exists) and ``replicates``: what to do with rows whose inputs are identical (the same
experiment measured again): ``"mean"`` (the default, as Liang et al. 2021 do) merges them into one
row with their mean objective, ``"first"`` keeps the first row's value, ``"refuse"`` rejects the
pool. A new pool is added by writing its entry, never by code. The rows themselves are read by
:mod:`lab.pool_csv` and :mod:`lab.pools`.

Every field is checked for type, finiteness and range, and every problem of every entry is
reported at once: one :class:`PoolError` whose ``problems`` hold one line each, naming the entry and
the field and saying what was expected. File limits (size, nesting) are in :mod:`lab.pool_files`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import PoolError
from lab.pool_files import read_json

__all__ = ["REPLICATES", "PoolError", "PoolSpec", "find_pool", "load_manifest"]

_TOPK = re.compile(r"^top(\d+(?:\.\d+)?)pct_count$")
REQUIRED = ("name", "pool_file", "inputs", "input_ranges", "objective", "direction")
#: What ``replicates`` may say; the first is the default.
REPLICATES = ("mean", "first", "refuse")
_MAX_NAME = 1000


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
        replicates: ``"mean"``, ``"first"`` or ``"refuse"`` (see the module docstring).
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
    replicates: str = "mean"
    entry: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_name(self) -> str:
        """The last part of the name, e.g. ``"crossed_barrel"``."""
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def from_entry(cls, entry: Any, base_dir: Path, source: str = "manifest") -> PoolSpec:
        """Validate a manifest entry; ``pool_file`` is resolved against ``base_dir``.

        Raises:
            PoolError: its ``problems`` name the entry and every missing or invalid field.
        """
        spec, problems = check_entry(entry, Path(base_dir), _label(entry, 0))
        if spec is None:
            raise PoolError.of(source, problems)
        return spec


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and "\x00" not in value and len(value) <= _MAX_NAME


def _finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a boolean), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def _label(entry: Any, index: int) -> str:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"entry {name!r}" if _is_name(name) else f"entry #{index + 1}"


def _normalised(entry: Mapping[str, Any], label: str, problems: list[str]) -> dict[str, Any]:
    """Two manifest dialects read as one: ``parameter_spec`` (Olympus: ``[{name, low, high}, ...]``)
    supplies missing ``input_ranges``, and a one-element ``objective`` list names the objective."""
    out = {str(k): v for k, v in entry.items()}
    spec = out.get("parameter_spec")
    if "input_ranges" not in out and spec is not None:
        if isinstance(spec, list) and all(isinstance(p, Mapping) and _is_name(p.get("name")) for p in spec):
            out["input_ranges"] = {p["name"]: [p.get("low"), p.get("high")] for p in spec}
        else:
            problems.append(f"{label}: parameter_spec: expected a list of {{name, low, high}} objects, "
                            f"got {_show(spec)}")
    objective = out.get("objective")
    if isinstance(objective, list) and len(objective) == 1:
        out["objective"] = objective[0]
    return out


def _ranges(entry: Mapping[str, Any], inputs: Sequence[str], label: str, problems: list[str]) -> dict[str, tuple[float, float]]:
    raw = entry["input_ranges"]
    if not isinstance(raw, Mapping):
        problems.append(f"{label}: input_ranges: expected an object {{input: [low, high]}}, got {_kind(raw)}")
        return {}
    out: dict[str, tuple[float, float]] = {}
    for name in inputs:
        rng = raw.get(name)
        pair = [_finite(v) for v in rng] if isinstance(rng, list) and len(rng) == 2 else [None, None]
        lo, hi = pair
        if lo is None or hi is None or not lo < hi:
            got = "nothing" if name not in raw else _show(rng)
            problems.append(f"{label}: input_ranges[{name!r}]: expected [low, high] of finite numbers with low < high, "
                            f"got {got}")
        else:
            out[name] = (lo, hi)
    return out


def _top_cutoff(entry: Mapping[str, Any], label: str, problems: list[str]) -> tuple[float, int | None]:
    found: list[tuple[float, int | None]] = []
    for key, value in entry.items():
        m = _TOPK.match(key)
        if not m:
            continue
        pct = _finite(float(m.group(1))) if len(m.group(1)) < 20 else None
        count = _finite(value)
        if pct is None or not 0.0 < pct <= 100.0:
            problems.append(f"{label}: {key}: expected k in (0, 100] in top<k>pct_count")
        elif count is None or not count.is_integer() or count < 1:
            problems.append(f"{label}: {key}: expected a whole number of rows >= 1, got {_show(value)}")
        else:
            found.append((pct / 100.0, int(count)))
    if "top_fraction" in entry:
        frac = _finite(entry["top_fraction"])
        if frac is None or not 0.0 < frac <= 1.0:
            problems.append(f"{label}: top_fraction: expected a number in (0, 1], got {_show(entry['top_fraction'])}")
            return 0.05, None
        return frac, None
    if len(found) > 1:
        problems.append(f"{label}: more than one top<k>pct_count field: expected one, or top_fraction")
    return found[0] if found else (0.05, None)


def check_entry(entry: Any, base_dir: Path, label: str) -> tuple[PoolSpec | None, list[str]]:
    """Check one manifest entry: the spec (``None`` when invalid) and one line per problem."""
    if not isinstance(entry, Mapping):
        return None, [f"{label}: expected an object with fields {', '.join(REQUIRED)}, got {_kind(entry)}"]
    problems: list[str] = []
    e = _normalised(entry, label, problems)
    missing = [k for k in REQUIRED if k not in e]
    problems += [f"{label}: missing field {k!r}" for k in missing]
    for key in ("name", "pool_file"):
        if key in e and not _is_name(e[key]):
            problems.append(f"{label}: {key}: expected a non-empty string, got {_show(e[key])}")
    inputs: tuple[str, ...] = ()
    if "inputs" in e:
        raw = e["inputs"]
        if not isinstance(raw, list) or not raw or not all(_is_name(c) for c in raw) or len(set(raw)) != len(raw):
            problems.append(f"{label}: inputs: expected a non-empty list of distinct column names, got {_show(raw)}")
        else:
            inputs = tuple(raw)
    ranges = _ranges(e, inputs, label, problems) if "input_ranges" in e else {}
    objective = e.get("objective")
    if "objective" in e:
        if not _is_name(objective):
            problems.append(f"{label}: objective: expected a column name (or a one-element list of one), "
                            f"got {_show(entry.get('objective'))}")
        elif objective in inputs:
            problems.append(f"{label}: objective: expected a column that is not an input, got {objective!r}")
    if "direction" in e and e["direction"] not in ("maximize", "minimize"):
        problems.append(f"{label}: direction: expected 'maximize' or 'minimize', got {_show(e['direction'])}")
    fraction, count = _top_cutoff(e, label, problems)
    exclude = e.get("exclude_column")
    if exclude is not None and not _is_name(exclude):
        problems.append(f"{label}: exclude_column: expected a column name or null, got {_show(exclude)}")
    replicates = e.get("replicates", REPLICATES[0])
    if replicates not in REPLICATES:
        problems.append(f"{label}: replicates: expected one of {', '.join(map(repr, REPLICATES))}, got {_show(replicates)}")
    if problems:
        return None, problems
    return PoolSpec(e["name"], base_dir / e["pool_file"], inputs, ranges, str(objective), e["direction"], fraction,
                    count, exclude, replicates, dict(entry)), []


def load_manifest(path: str | Path) -> list[PoolSpec]:
    """Every entry of a manifest (a JSON list of entries), all checked in one pass.

    Raises:
        PoolError: the file is missing, a directory, empty, over 1 MiB, not UTF-8, nested over 32
            levels, not JSON or not a list; or one or more entries are invalid (one line each in
            ``problems``, naming the entry and the field), or two entries share a name.
    """
    path = Path(path)
    data = read_json(path, "manifest", " (give --manifest or set LAB_POOLS_DIR)")
    if not isinstance(data, list):
        raise PoolError.of(str(path), [f"expected a JSON list of pool entries, got {_kind(data)}"])
    if not data:
        raise PoolError.of(str(path), ["expected a JSON list of pool entries, got an empty list"])
    specs: list[PoolSpec] = []
    problems: list[str] = []
    for i, entry in enumerate(data):
        spec, found = check_entry(entry, path.parent, _label(entry, i))
        problems += found
        if spec is not None:
            if any(s.name == spec.name for s in specs):
                problems.append(f"{_label(entry, i)}: name: expected a name no other entry has")
            specs.append(spec)
    if problems:
        raise PoolError.of(str(path), problems)
    return specs


def find_pool(specs: Sequence[PoolSpec], name: str) -> PoolSpec:
    """The entry whose full name, short name or file stem is ``name``.

    Raises:
        PoolError: no entry matches (the message lists the names).
    """
    for s in specs:
        if name in (s.name, s.short_name, s.path.stem, s.path.name):
            return s
    raise PoolError(f"no pool named {name!r}; pools: {', '.join(s.name for s in specs)}")
