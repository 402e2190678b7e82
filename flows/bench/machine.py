"""The machine a benchmark ran on, written beside every benchmark's figures."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

from rich.table import Table

__all__ = ["machine_info"]

_LIBRARIES = ("numpy", "torch", "botorch", "gpytorch", "scikit-learn", "pymatgen", "prefect", "SQLAlchemy")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict[str, Any]:
    """Platform, CPU model and count, load average, Python and the versions of the libraries that set the figures.

    ``load_average`` (1, 5, 15 minutes, when the report is written) shows whether other jobs shared the machine.
    """
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "load_average": load,
            "python": sys.version.split()[0], **{d: _version(d) for d in _LIBRARIES}}


def machine_table(machine: dict[str, Any]) -> Table:
    """The machine a benchmark ran on (:func:`machine_info`) as a two-column table."""
    table = Table(title="Machine")
    table.add_column("key")
    table.add_column("value")
    for key, value in machine.items():
        table.add_row(key, str(value))
    return table
