"""One experiment's parameters as one line of text, for tables, reports and the command line.

Compositions read as element amounts (``Ba0.500 Ti0.500``), floats with one decimal, everything
else as it is:

>>> format_params({"cations": {"Ba": 0.512, "Ti": 0.488}, "temperature_c": 1023.44, "dwell_h": 3, "atmosphere": "O2"})
'cations=Ba0.512 Ti0.488, temperature_c=1023.4, dwell_h=3, atmosphere=O2'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_params"]


def format_params(params: Mapping[str, Any]) -> str:
    """``name=value`` pairs joined by commas; a composition as ``El<amount>`` to 3 decimals."""
    parts = []
    for name, value in params.items():
        if isinstance(value, Mapping):
            text = " ".join(f"{element}{float(x):.3f}" for element, x in value.items())
        elif isinstance(value, float):
            text = f"{value:.1f}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts)
