"""Checks that drivers run before any byte is sent.

Each raises :class:`~instruments.errors.LimitViolation` with a message naming the parameter, the
value and what is allowed.

Example:
    >>> check_range("temperature_c", 900.0, 25.0, 1400.0, "°C")
    900.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from instruments.errors import LimitViolation

__all__ = ["check_choice", "check_identifier", "check_range"]

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,95}$")


def check_range(name: str, value: float, low: float, high: float, unit: str = "") -> float:
    """``value`` as a float if it is a finite number in ``[low, high]``.

    Args:
        name: the parameter's name, e.g. ``"temperature_c"``.
        value: the requested value.
        low: the smallest allowed value.
        high: the largest allowed value.
        unit: the unit for the message, e.g. ``"°C"``.
    """
    suffix = f" {unit}" if unit else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitViolation(f"{name}={value!r} is not a number; expected {low}..{high}{suffix}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise LimitViolation(f"{name}={value!r}{suffix} is outside the allowed range {low}..{high}{suffix}")
    return number


def check_choice(name: str, value: str, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``."""
    options = tuple(allowed)
    if value not in options:
        raise LimitViolation(f"{name}={value!r} is not allowed; expected one of {', '.join(options)}")
    return value


def check_identifier(name: str, value: str) -> str:
    """``value`` if it can travel as a quoted SCPI string (job keys, sample ids).

    Allowed: 1-96 characters, letters, digits and ``_ . : / @ + -``, starting with a letter or
    digit (no quotes, commas, spaces or line breaks).
    """
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise LimitViolation(f"{name}={value!r} is not a valid identifier; expected 1-96 characters of "
                             "letters, digits and _.:/@+- starting with a letter or digit")
    return value
