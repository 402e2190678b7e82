"""Fault injection for the simulated lab, as a lab file's ``[faults]`` table asks for it.

``lab simulate`` reads the table from the lab file it is given (and writes it back into the file
it regenerates); ``lab bench faults`` builds the same settings from its options. Every field is
optional::

    [faults]
    rate = 0.02               # probability per command line of a reply fault, split evenly over `kinds` (0..1)
    kinds = ["no_reply", "late_reply", "garbled", "drop", "device_error"]   # the default: all five
    stuck = 0.02              # probability per job start that the job gets stuck (default: `rate`)
    restarts_per_day = 2.0    # device restarts per simulated day, whole lab (a Poisson process; default 0)
    late_s = 3.0              # how late a late reply comes (real seconds); keep it above the drivers' timeout (2 s)
    seed = 0                  # seeds every instrument's fault draws
    instruments = ["furnace-1", "xrd"]   # the instruments that misbehave (default: all)

The fault kinds are those of :mod:`simulators.faults` (which :mod:`flows.campaign.runtime` turns
these settings into); this module only validates and splits, so any layer may read a lab file.
A bad field gives one line naming the field and what was expected (:class:`lab.errors.SpecError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.errors import SpecError
from lab.spec import read_toml

__all__ = ["REPLY_KINDS", "FaultSettings", "InjectedFault", "parse_fault_table", "read_fault_table"]

#: The reply faults, drawn once per command line (as :data:`simulators.faults.REPLY_FAULTS`).
REPLY_KINDS = ("no_reply", "late_reply", "garbled", "drop", "device_error")
#: Every fault class a report counts: the reply faults, stuck jobs, device restarts.
FAULT_CLASSES = (*REPLY_KINDS, "stuck", "restart")
_FIELDS = ("rate", "kinds", "stuck", "restarts_per_day", "late_s", "seed", "instruments")


@dataclass(frozen=True)
class FaultSettings:
    """What the simulated lab injects, and how often.

    Attributes:
        rate: probability per command line of a reply fault (0-1), split evenly over ``kinds``.
        kinds: the reply faults that share ``rate``.
        stuck: probability per job start that the job gets stuck (0-1).
        restarts_per_day: device restarts per simulated day over the whole lab, spread evenly over
            the instruments (each a Poisson process on the lab's clock).
        late_s: delay of a late reply (real seconds).
        seed: seed of the fault draws (each instrument draws from its own stream).
        instruments: the instruments that misbehave; None: all of them.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = REPLY_KINDS
    stuck: float = 0.0
    restarts_per_day: float = 0.0
    late_s: float = 3.0
    seed: int = 0
    instruments: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        problems = _problems({f: getattr(self, f) for f in _FIELDS})
        if problems:
            raise SpecError("[faults]", problems)

    def targets(self, names: Sequence[str], source: str = "[faults]") -> list[str]:
        """The instruments of ``names`` that misbehave; raises :class:`SpecError` for a name the lab lacks."""
        if self.instruments is None:
            return list(names)
        unknown = [n for n in self.instruments if n not in names]
        if unknown:
            raise SpecError(source, [f"faults.instruments: {', '.join(map(repr, unknown))} not in this lab; "
                                     f"expected some of {', '.join(names)}"])
        return [n for n in names if n in self.instruments]

    def plan_options(self, names: Sequence[str], source: str = "[faults]") -> dict[str, dict[str, Any]]:
        """Keyword arguments of each misbehaving instrument's ``simulators.faults.FaultPlan``, by name."""
        targets = self.targets(names, source)
        per_kind = self.rate / len(self.kinds) if self.kinds else 0.0
        restarts_per_h = self.restarts_per_day / 24.0 / len(targets) if targets else 0.0
        return {name: {**{k: per_kind for k in self.kinds}, "stuck": self.stuck, "restarts_per_h": restarts_per_h,
                       "late_s": self.late_s, "seed": self.seed * 7919 + i}
                for i, name in enumerate(targets)}

    def toml_lines(self) -> list[str]:
        """The settings as a ``[faults]`` table (TOML lines)."""
        lines = ["[faults]", f"rate = {self.rate!r}", "kinds = [" + ", ".join(f'"{k}"' for k in self.kinds) + "]",
                 f"stuck = {self.stuck!r}", f"restarts_per_day = {self.restarts_per_day!r}", f"late_s = {self.late_s!r}",
                 f"seed = {self.seed}"]
        if self.instruments is not None:
            lines.append("instruments = [" + ", ".join(f'"{n}"' for n in self.instruments) + "]")
        return lines

    def describe(self) -> str:
        """One line for a terminal."""
        where = "every instrument" if self.instruments is None else ", ".join(self.instruments)
        return (f"faults on {where}: {self.rate:g} per command line ({', '.join(self.kinds) or 'none'}), "
                f"stuck {self.stuck:g} per job start, {self.restarts_per_day:g} restarts per simulated day, "
                f"late replies {self.late_s:g} s, seed {self.seed}")


@dataclass(frozen=True)
class InjectedFault:
    """One fault a simulator injected, as a report reads it.

    Attributes:
        instrument: the instrument's name.
        kind: one of :data:`FAULT_CLASSES`.
        at: the simulated time it was injected (for a restart, its moment).
        line: the command line it hit.
        key: the job key it concerns (the line's, or the last one the device saw; a restart: the job it cut).
        cut: for a restart, whether it cut a running job.
    """

    instrument: str
    kind: str
    at: datetime | None
    line: str
    key: str | None
    cut: bool = field(default=False)


def parse_fault_table(table: object, source: str) -> FaultSettings:
    """Validate a ``[faults]`` table; raises :class:`SpecError` with one line per bad field."""
    if not isinstance(table, Mapping):
        raise SpecError(source, ["faults: expected a table ([faults] with rate, kinds, stuck, ...)"])
    problems = [f"faults.{k}: unknown field; expected one of {', '.join(_FIELDS)}" for k in table if k not in _FIELDS]
    values: dict[str, Any] = {}
    for name in ("rate", "stuck", "restarts_per_day", "late_s"):
        if name in table:
            if _number(table[name]):
                values[name] = float(table[name])
            else:
                problems.append(f"faults.{name}: expected a number, got {table[name]!r}")
    if "seed" in table:
        if isinstance(table["seed"], int) and not isinstance(table["seed"], bool):
            values["seed"] = table["seed"]
        else:
            problems.append(f"faults.seed: expected an integer, got {table['seed']!r}")
    for name in ("kinds", "instruments"):
        if name in table:
            items = table[name]
            if isinstance(items, list) and all(isinstance(x, str) for x in items):
                values[name] = tuple(items)
            else:
                problems.append(f"faults.{name}: expected a list of names in quotes, got {items!r}")
    if "stuck" not in table and 0.0 <= values.get("rate", 0.0) <= 1.0:
        values["stuck"] = values.get("rate", 0.0)  # a bad rate is reported once, for the field given
    problems += _problems({**_DEFAULTS, **values})
    if problems:
        raise SpecError(source, problems)
    return FaultSettings(**values)


def read_fault_table(path: str | Path) -> FaultSettings | None:
    """The ``[faults]`` table of the lab file at ``path``, validated; None when it has none."""
    data = read_toml(Path(path))
    return parse_fault_table(data["faults"], str(path)) if "faults" in data else None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _problems(v: Mapping[str, Any]) -> list[str]:
    """One line per field out of range (``v``: every field's value)."""
    out = [f"faults.{name}: expected a probability between 0 and 1, got {v[name]!r}"
           for name in ("rate", "stuck") if not 0.0 <= v[name] <= 1.0]
    if not (math.isfinite(v["restarts_per_day"]) and v["restarts_per_day"] >= 0):
        out.append(f"faults.restarts_per_day: expected restarts per simulated day >= 0, got {v['restarts_per_day']!r}")
    if not (math.isfinite(v["late_s"]) and v["late_s"] >= 0):
        out.append(f"faults.late_s: expected a delay in seconds >= 0, got {v['late_s']!r}")
    kinds = list(v["kinds"])
    if any(k not in REPLY_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        out.append(f"faults.kinds: expected distinct names among {', '.join(REPLY_KINDS)}, got {kinds!r}")
    if v["instruments"] is not None and not v["instruments"]:
        out.append("faults.instruments: expected at least one instrument name (leave it out for all)")
    return out


_DEFAULTS: dict[str, Any] = {"rate": 0.0, "kinds": REPLY_KINDS, "stuck": 0.0, "restarts_per_day": 0.0, "late_s": 3.0,
                             "seed": 0, "instruments": None}
