"""Search spaces: the parameters a campaign may vary, and their encoding for policies.

Four parameter kinds:

* :class:`ContinuousParameter` (``low <= x <= high``, a float, e.g. a temperature in °C),
* :class:`IntegerParameter` (an int, e.g. a dwell in whole hours),
* :class:`CategoricalParameter` (one of ``choices``, e.g. an atmosphere),
* :class:`CompositionParameter` (element fractions with per-element bounds and a fixed sum,
  backed by pymatgen :class:`~pymatgen.core.Composition`).

Policies work in the *unit cube*: :meth:`SearchSpace.encode` maps a parameter dict to a vector of
``dim`` floats in [0, 1] (one-hot for categories, one feature per element of a composition), and
:meth:`SearchSpace.decode` maps any vector of the cube back to a *feasible* parameter dict (rounding
integers, taking the largest one-hot entry, projecting compositions onto their sum constraint).

Example:
    >>> space = SearchSpace((
    ...     ContinuousParameter("temperature_c", 700.0, 1300.0, unit="°C"),
    ...     CategoricalParameter("atmosphere", ("air", "O2")),
    ... ))
    >>> space.dim
    3
    >>> space.decode([0.5, 0.0, 1.0])
    {'temperature_c': 1000.0, 'atmosphere': 'O2'}
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from pymatgen.core import Composition

from lab.errors import SearchSpaceError

__all__ = [
    "CategoricalParameter",
    "CompositionParameter",
    "ContinuousParameter",
    "IntegerParameter",
    "Parameter",
    "SearchSpace",
]

_TOL = 1e-9


@dataclass(frozen=True)
class ContinuousParameter:
    """A real-valued parameter in ``[low, high]`` (in ``unit``)."""

    name: str
    low: float
    high: float
    unit: str = ""
    kind: str = field(default="continuous", init=False)

    @property
    def width(self) -> int:
        return 1

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise SearchSpaceError(f"{self.name}: low ({self.low}) must be below high ({self.high})")

    def encode(self, value: Any) -> list[float]:
        return [(float(value) - self.low) / (self.high - self.low)]

    def decode(self, features: Sequence[float]) -> float:
        return self.low + _clip01(features[0]) * (self.high - self.low)

    def check(self, value: Any) -> None:
        if not isinstance(value, (int, float)) or not (self.low - _TOL <= value <= self.high + _TOL):
            raise SearchSpaceError(f"{self.name}={value!r} is outside [{self.low}, {self.high}] {self.unit}".rstrip())


@dataclass(frozen=True)
class IntegerParameter:
    """An integer parameter in ``[low, high]`` (inclusive)."""

    name: str
    low: int
    high: int
    unit: str = ""
    kind: str = field(default="integer", init=False)

    @property
    def width(self) -> int:
        return 1

    def encode(self, value: Any) -> list[float]:
        return [(int(value) - self.low) / max(self.high - self.low, 1)]

    def decode(self, features: Sequence[float]) -> int:
        return int(round(self.low + _clip01(features[0]) * (self.high - self.low)))

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not (self.low <= value <= self.high):
            raise SearchSpaceError(f"{self.name}={value!r} is not an integer in [{self.low}, {self.high}]")


@dataclass(frozen=True)
class CategoricalParameter:
    """One of a fixed tuple of ``choices`` (strings)."""

    name: str
    choices: tuple[str, ...]
    kind: str = field(default="categorical", init=False)

    @property
    def width(self) -> int:
        return len(self.choices)

    def encode(self, value: Any) -> list[float]:
        return [1.0 if value == c else 0.0 for c in self.choices]

    def decode(self, features: Sequence[float]) -> str:
        best = max(range(len(self.choices)), key=lambda i: features[i])
        return self.choices[best]

    def check(self, value: Any) -> None:
        if value not in self.choices:
            raise SearchSpaceError(f"{self.name}={value!r} is not one of {list(self.choices)}")


@dataclass(frozen=True)
class CompositionParameter:
    """Element fractions with per-element bounds that sum to ``total``.

    Values are dicts ``{element: fraction}``; :meth:`composition` gives the pymatgen
    :class:`~pymatgen.core.Composition`.

    Attributes:
        bounds: ``((element, low, high), ...)`` in a fixed order.
        total: the sum every value must have (e.g. 1.0 for cation fractions).
    """

    name: str
    bounds: tuple[tuple[str, float, float], ...]
    total: float = 1.0
    kind: str = field(default="composition", init=False)

    def __post_init__(self) -> None:
        lows = sum(lo for _, lo, _ in self.bounds)
        highs = sum(hi for _, _, hi in self.bounds)
        if lows > self.total + _TOL or highs < self.total - _TOL:
            raise SearchSpaceError(
                f"{self.name}: no composition satisfies the bounds: lower bounds sum to {lows:g} and upper "
                f"bounds to {highs:g}, but the fractions must sum to {self.total:g}"
            )

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(e for e, _, _ in self.bounds)

    @property
    def width(self) -> int:
        return len(self.bounds)

    def encode(self, value: Any) -> list[float]:
        return [(float(value.get(e, 0.0)) - lo) / (hi - lo) if hi > lo else 0.0 for e, lo, hi in self.bounds]

    def decode(self, features: Sequence[float]) -> dict[str, float]:
        raw = [lo + _clip01(f) * (hi - lo) for f, (_, lo, hi) in zip(features, self.bounds)]
        return dict(zip(self.elements, _project(raw, self.bounds, self.total)))

    def composition(self, value: Mapping[str, float]) -> Composition:
        """The pymatgen Composition of a value (fractions as amounts)."""
        return Composition({e: v for e, v in value.items() if v > 0})

    def check(self, value: Any) -> None:
        if not isinstance(value, Mapping) or set(value) != set(self.elements):
            raise SearchSpaceError(f"{self.name}={value!r} must give a fraction for each of {list(self.elements)}")
        for e, lo, hi in self.bounds:
            if not (lo - 1e-6 <= value[e] <= hi + 1e-6):
                raise SearchSpaceError(f"{self.name}.{e}={value[e]!r} is outside [{lo}, {hi}]")
        if abs(sum(value.values()) - self.total) > 1e-6:
            raise SearchSpaceError(f"{self.name} fractions sum to {sum(value.values()):g}, expected {self.total:g}")


Parameter = Union[ContinuousParameter, IntegerParameter, CategoricalParameter, CompositionParameter]


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


def _project(raw: list[float], bounds: Sequence[tuple[str, float, float]], total: float) -> list[float]:
    """Shift ``raw`` by one constant and clip to bounds so it sums to ``total`` (bisection)."""

    def clipped(shift: float) -> list[float]:
        return [min(hi, max(lo, r - shift)) for r, (_, lo, hi) in zip(raw, bounds)]

    lo_s = min(r - hi for r, (_, _, hi) in zip(raw, bounds)) - 1.0
    hi_s = max(r - lo for r, (_, lo, _) in zip(raw, bounds)) + 1.0
    for _ in range(80):
        mid = 0.5 * (lo_s + hi_s)
        if sum(clipped(mid)) > total:
            lo_s = mid
        else:
            hi_s = mid
    values = clipped(0.5 * (lo_s + hi_s))
    # put the bisection's last rounding error on an element with room, so the sum is exact
    gap = total - sum(values)
    for i, (_, lo, hi) in enumerate(bounds):
        if lo <= values[i] + gap <= hi:
            values[i] += gap
            break
    return values


@dataclass(frozen=True)
class SearchSpace:
    """An ordered tuple of parameters with a unit-cube encoding of width :attr:`dim`."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SearchSpaceError(f"parameter names must be unique; repeated: {dupes}")

    @property
    def dim(self) -> int:
        """Number of features in the unit-cube encoding."""
        return sum(p.width for p in self.parameters)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def encode(self, params: Mapping[str, Any]) -> list[float]:
        """Features in [0, 1] of a parameter dict, shape ``(dim,)``."""
        self.check(params)
        out: list[float] = []
        for p in self.parameters:
            out.extend(p.encode(params[p.name]))
        return out

    def decode(self, features: Sequence[float]) -> dict[str, Any]:
        """A feasible parameter dict from any vector of shape ``(dim,)``."""
        if len(features) != self.dim:
            raise SearchSpaceError(f"expected {self.dim} features, got {len(features)}")
        out: dict[str, Any] = {}
        i = 0
        for p in self.parameters:
            out[p.name] = p.decode(features[i : i + p.width])
            i += p.width
        return out

    def check(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`SearchSpaceError` naming the first problem with ``params``."""
        unknown = set(params) - set(self.names)
        missing = set(self.names) - set(params)
        if unknown or missing:
            raise SearchSpaceError(f"parameters do not match the space: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for p in self.parameters:
            p.check(params[p.name])

    def sample(self, rng: random.Random, n: int) -> list[dict[str, Any]]:
        """``n`` uniform random feasible points."""
        return [self.decode([rng.random() for _ in range(self.dim)]) for _ in range(n)]

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": [_param_to_dict(p) for p in self.parameters]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        return cls(tuple(_param_from_dict(d) for d in data["parameters"]))


def _param_to_dict(p: Parameter) -> dict[str, Any]:
    if isinstance(p, CompositionParameter):
        return {"kind": p.kind, "name": p.name, "total": p.total, "bounds": [list(b) for b in p.bounds]}
    if isinstance(p, CategoricalParameter):
        return {"kind": p.kind, "name": p.name, "choices": list(p.choices)}
    return {"kind": p.kind, "name": p.name, "low": p.low, "high": p.high, "unit": p.unit}


def _param_from_dict(d: Mapping[str, Any]) -> Parameter:
    kind = d["kind"]
    if kind == "continuous":
        return ContinuousParameter(d["name"], float(d["low"]), float(d["high"]), d.get("unit", ""))
    if kind == "integer":
        return IntegerParameter(d["name"], int(d["low"]), int(d["high"]), d.get("unit", ""))
    if kind == "categorical":
        return CategoricalParameter(d["name"], tuple(d["choices"]))
    if kind == "composition":
        return CompositionParameter(d["name"], tuple((e, float(lo), float(hi)) for e, lo, hi in d["bounds"]), float(d["total"]))
    raise SearchSpaceError(f"unknown parameter kind {kind!r}; expected continuous, integer, categorical or composition")
