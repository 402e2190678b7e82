"""The ``[[parameters]]`` of a campaign spec: continuous, integer, categorical and composition.

Each is a frozen pydantic model that refuses unknown keys; :func:`to_parameter` turns one into the
:mod:`lab.search_space` parameter a policy works with. :mod:`lab.spec` assembles them into a
:class:`~lab.spec.CampaignSpec`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pymatgen.core import Element

from lab.errors import SearchSpaceError
from lab.search_space import (
    CategoricalParameter,
    CompositionParameter,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
)

__all__ = ["CategoricalSpec", "CompositionSpec", "ContinuousSpec", "IntegerSpec", "AnyParameterSpec", "to_parameter"]


#: The largest integer bound a parameter may have: every integer up to it is exact as a float (policies encode in floats).
MAX_INTEGER_BOUND = 2**53


class _Strict(BaseModel):
    """Unknown keys refused, frozen, and no NaN or infinity in any float field."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ContinuousSpec(_Strict):
    type: Literal["continuous"]
    name: str
    low: float
    high: float
    unit: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> ContinuousSpec:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be finite and below high ({self.high})")
        if not math.isfinite(self.high - self.low):
            raise ValueError(f"high - low ({self.high} - {self.low}) must be a finite number")
        return self


class IntegerSpec(_Strict):
    type: Literal["integer"]
    name: str
    low: int = Field(ge=-MAX_INTEGER_BOUND, le=MAX_INTEGER_BOUND)
    high: int = Field(ge=-MAX_INTEGER_BOUND, le=MAX_INTEGER_BOUND)
    unit: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> IntegerSpec:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class CategoricalSpec(_Strict):
    type: Literal["categorical"]
    name: str
    choices: list[str] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"choices must be unique, got {v}")
        return v


class CompositionSpec(_Strict):
    """Element fractions, e.g. ``elements = { Ba = [0.4, 0.6], Ti = [0.4, 0.6] }``."""

    type: Literal["composition"]
    name: str
    elements: dict[str, tuple[float, float]] = Field(min_length=1)
    total: float = Field(default=1.0, gt=0)

    @field_validator("elements")
    @classmethod
    def _elements(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for symbol, (lo, hi) in v.items():
            if not Element.is_valid_symbol(symbol):
                raise ValueError(f"unknown element {symbol!r} (expected a symbol such as 'Ba' or 'Ti')")
            if not 0.0 <= lo <= hi:
                raise ValueError(f"{symbol}: bounds [{lo}, {hi}] must satisfy 0 <= low <= high")
        return v

    @model_validator(mode="after")
    def _feasible(self) -> CompositionSpec:
        try:
            self.to_parameter()
        except SearchSpaceError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return self

    def to_parameter(self) -> CompositionParameter:
        return CompositionParameter(self.name, tuple((e, lo, hi) for e, (lo, hi) in self.elements.items()), self.total)


def to_parameter(p: AnyParameterSpec) -> Parameter:
    """The search-space parameter a validated parameter spec describes."""
    if isinstance(p, ContinuousSpec):
        return ContinuousParameter(p.name, p.low, p.high, p.unit)
    if isinstance(p, IntegerSpec):
        return IntegerParameter(p.name, p.low, p.high, p.unit)
    if isinstance(p, CategoricalSpec):
        return CategoricalParameter(p.name, tuple(p.choices))
    return p.to_parameter()

#: Any one of the parameter kinds.
AnyParameterSpec = ContinuousSpec | IntegerSpec | CategoricalSpec | CompositionSpec
