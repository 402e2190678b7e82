"""The kinds of instrument a lab has: one enum, used by specs, lab files, drivers and the engine.

Example:
    >>> InstrumentKind("furnace") is InstrumentKind.FURNACE
    True
    >>> InstrumentKind.XRD == "xrd"
    True
"""

from __future__ import annotations

import enum

__all__ = ["InstrumentKind"]


class InstrumentKind(str, enum.Enum):
    """What an instrument does in a workflow; the value is how specs and lab files spell it."""

    DOSING = "dosing"
    FURNACE = "furnace"
    XRD = "xrd"
    UVVIS = "uvvis"

    def __str__(self) -> str:
        return self.value
