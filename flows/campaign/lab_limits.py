"""What each instrument of a lab lets through, known without opening a port.

Two labs a campaign can run on (see :mod:`flows.campaign.runtime`):

* :func:`simulated_lab_limits`: the simulated lab. :func:`~flows.campaign.runtime.simulated_rig`
  opens its drivers with no limits of their own, so each driver's are its kind's defaults
  (:func:`instruments.registry.make_limits` with no values, the call ``open_instrument`` makes),
  which the simulators enforce too (e.g. the doser's feeders hold ``DosingLimits.precursors``).
* :func:`lab_file_limits`: the instruments a lab file lists, each kind's defaults overridden by
  its ``limits`` table, as :func:`~flows.campaign.runtime.hardware_rig` opens them.

``lab queue`` and ``lab run`` check a campaign against these (:mod:`flows.campaign.admission`).

Example:
    >>> lab = simulated_lab_limits(InstrumentsSpec())
    >>> lab.instruments["doser"][1].precursors, lab.instruments["furnace-1"][1].max_temperature_c
    (('BaCO3', 'TiO2'), 1400.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.campaign.runtime import load_lab_file
from instruments.registry import Limits, make_limits
from lab.errors import SpecError
from lab.instrument_kind import InstrumentKind
from lab.spec import CampaignSpec, InstrumentsSpec

__all__ = ["LabLimits", "lab_file_limits", "simulated_lab_limits"]


@dataclass(frozen=True)
class LabLimits:
    """The limits of every instrument of one lab.

    Attributes:
        source: the lab, for messages: ``"simulated lab"`` or ``"lab file <path>"``.
        instruments: ``(kind, limits)`` by instrument name; the limits are the kind's dataclass
            (:func:`instruments.registry.make_limits`), in its units (°C, hours, mg, degrees, nm).
        names_fixed: whether the lab has only these instruments (a lab file); the simulated lab is
            started shaped like each campaign, so it has whatever instruments the spec names.
    """

    source: str
    instruments: Mapping[str, tuple[InstrumentKind, Limits]]
    names_fixed: bool


def simulated_lab_limits(shape: CampaignSpec | InstrumentsSpec) -> LabLimits:
    """The limits of the simulated lab shaped like ``shape`` (as ``simulated_rig(shape)`` builds it).

    Args:
        shape: the instrument names by role (a campaign's, or a whole lab's).
    """
    roles = shape.instruments if isinstance(shape, CampaignSpec) else shape
    return LabLimits("simulated lab", {name: (kind, make_limits(kind)) for kind, names in roles.by_kind().items()
                                       for name in names}, names_fixed=False)


def lab_file_limits(path: str | Path) -> LabLimits:
    """The limits of the instruments a lab file lists; reads the file only, opens no port.

    Args:
        path: the lab file (TOML, see :mod:`flows.campaign.runtime`).

    Raises:
        SpecError: the lab file is invalid (:func:`~flows.campaign.runtime.load_lab_file`), lists
            a name twice, or gives an unknown limit or one of the wrong type; lists every problem.
    """
    entries, _ = load_lab_file(path)
    problems: list[str] = []
    out: dict[str, tuple[InstrumentKind, Limits]] = {}
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        values: Any = entry.get("limits", {})
        if entry["name"] in seen:
            problems.append(f"instrument[{i}].name: {entry['name']!r} is listed twice")
        seen.add(entry["name"])
        if not isinstance(values, dict):
            problems.append(f"instrument[{i}].limits: expected a table such as {{ max_temperature_c = 1200 }}")
            continue
        try:
            out[entry["name"]] = (InstrumentKind(entry["kind"]), make_limits(entry["kind"], **values))
        except ValueError as exc:
            problems.append(f"instrument[{i}].limits: {exc}")
    if problems:
        raise SpecError(str(path), problems, "lab file")
    return LabLimits(f"lab file {path}", out, names_fixed=True)
