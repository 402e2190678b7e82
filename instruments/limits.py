"""Checks that drivers run before any byte is sent.

Each raises :class:`~instruments.errors.LimitViolation` with a message naming the parameter, the
value and what is allowed. :func:`problems_of` runs several checks and keeps every refusal, so a
driver's pure ``*_problems`` function can list all of them (what ``lab queue`` shows) while its
``check_*`` method raises the first (what a command refuses with).

Example:
    >>> check_range("temperature_c", 900.0, 25.0, 1400.0, "°C")
    900.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

from instruments.errors import LimitViolation

__all__ = ["Problem", "check_choice", "check_identifier", "check_range", "problems_of", "raise_first"]

#: One refusal: ``(argument, message)``, e.g. ``("temperature_c", "temperature_c=1500.0 °C is outside ...")``.
Problem = tuple[str, str]

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


def problems_of(*checks: tuple[str, Callable[[], object]]) -> list[Problem]:
    """Run every ``(argument, check)`` and return the refusals, in order, as ``(argument, message)``.

    Example:
        >>> problems_of(("dwell_h", lambda: check_range("dwell_h", 30.0, 0.5, 24.0, "h")))
        [('dwell_h', 'dwell_h=30.0 h is outside the allowed range 0.5..24.0 h')]
    """
    found: list[Problem] = []
    for argument, check in checks:
        try:
            check()
        except LimitViolation as exc:
            found.append((argument, str(exc)))
    return found


def raise_first(problems: Sequence[Problem]) -> None:
    """Raise :class:`~instruments.errors.LimitViolation` with the first problem's message, if any."""
    if problems:
        raise LimitViolation(problems[0][1])
