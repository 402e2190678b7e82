"""The machine a benchmark ran on, written beside every benchmark's figures."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

__all__ = ["machine_info"]

_LIBRARIES = ("numpy", "torch", "botorch", "gpytorch", "scikit-learn", "pymatgen", "prefect", "SQLAlchemy")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """Platform, CPU count, Python and the versions of the libraries that set the figures."""
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], **{d: _version(d) for d in _LIBRARIES}}
