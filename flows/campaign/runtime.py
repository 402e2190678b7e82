"""Which instruments and which clock a campaign runs on: the one place that picks simulators.

* :func:`simulated_rig` starts the simulated lab (dosing station, furnaces, diffractometer on
  pseudo-terminals, a shared materials world, a simulated clock) and connects the real drivers
  to it, byte for byte as they would talk to hardware.
* Faults: both take fault plans by instrument name or :class:`~flows.campaign.fault_settings.FaultSettings`
  (a lab file's ``[faults]`` table, which :func:`load_lab_file` also validates);
  :func:`injected_faults` reads back what the simulators injected.
* :func:`hardware_rig` connects the drivers to the ports named in a lab file (TOML)::

      [[instrument]]
      name = "furnace-1"
      kind = "furnace"            # furnace | dosing | xrd
      port = "/dev/ttyUSB0"       # or socket://192.168.1.40:4001
      limits = { max_temperature_c = 1200 }
      serial = { baudrate = 9600, parity = "N", stopbits = 1, line_ending = "\\n", timeout_s = 2.0, block_timeout_margin = 2.0 }

  ``serial`` is optional, and so is each of its fields (the defaults shown; 8 data bits always):
  ``baudrate`` (baud), ``parity`` (``"N"``, ``"E"``, ``"O"``, ``"M"``, ``"S"``), ``stopbits``
  (1, 1.5, 2), ``line_ending`` (``"\\n"``, ``"\\r\\n"``, ``"\\r"``), ``timeout_s`` (seconds per
  reply line) and ``block_timeout_margin`` (>= 1): reading an ``n``-byte data block may take
  ``timeout_s + n * bits_per_byte / baudrate * block_timeout_margin`` seconds
  (:mod:`instruments.serial_settings`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from flows.campaign import lab_file as _lab_file
from flows.campaign.fault_settings import FaultSettings, InjectedFault
from instruments.protocol import StepDriver
from instruments.registry import open_instrument
from lab.clock import DEFAULT_SIM_START, Clock, ScaledClock, SimulatedClock, WallClock
from lab.spec import CampaignSpec, InstrumentsSpec
from simulators.diffractometer import DEFAULT_SCAN_GRID
from simulators.faults import FaultPlan
from simulators.lab import SimulatedLab
from simulators.optics import absorbance
from simulators.samples import AnnealRecord
from simulators.world import MaterialsWorld, WorldParameters

__all__ = ["Faults", "Rig", "fault_counts", "hardware_rig", "injected_faults", "load_lab_file", "served_simulated_lab",
           "simulated_rig", "world_target_fractions"]

#: What a simulated lab injects: fault plans by instrument name, or settings spread over the instruments.
Faults = Mapping[str, FaultPlan] | FaultSettings | None


@dataclass
class Rig:
    """Connected instruments (by name) and the clock they run on."""

    instruments: dict[str, StepDriver]
    clock: Clock
    simulated: bool
    lab: SimulatedLab | None = None


@contextlib.contextmanager
def simulated_rig(shape: CampaignSpec | InstrumentsSpec, *, seed: int = 0, start: datetime | None = None,
                  faults: Faults = None, transport: str = "pty", timeout_s: float = 1.0) -> Iterator[Rig]:
    """A simulated lab shaped like ``spec.instruments``, with drivers connected to it.

    Args:
        shape: the instrument names by role (a campaign's, or a whole lab's) decide the simulators started.
        seed: seeds the materials world, balances and counting noise.
        start: the simulated clock's start (default: 22:00 on a fixed night, for reproducibility).
        faults: fault plans by instrument name (see :mod:`simulators.faults`), or fault settings.
        transport: ``"pty"`` (pseudo-terminals) or ``"socket"`` (loopback TCP).
        timeout_s: the drivers' read timeout (real seconds).
    """
    clock = SimulatedClock(start or DEFAULT_SIM_START)
    roles = shape.instruments if isinstance(shape, CampaignSpec) else shape
    lab = _simulated_lab(roles, clock, seed, faults, transport)
    drivers: dict[str, StepDriver] = {}
    try:
        drivers = {name: open_instrument(kind, url, name, timeout=timeout_s) for name, (kind, url) in lab.endpoints.items()}
        yield Rig(drivers, clock, True, lab)
    finally:
        for d in drivers.values():
            d.close()
        lab.close()


def _simulated_lab(roles: InstrumentsSpec, clock: Clock, seed: int, faults: Faults, transport: str) -> SimulatedLab:
    """The simulators of ``roles`` on ``clock``, sharing one seeded materials world."""
    world = MaterialsWorld(seed=seed)
    rng = np.random.default_rng(seed)
    lab_box: list[SimulatedLab] = []

    def pattern(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        return DEFAULT_SCAN_GRID, world.measure(lab_box[0].tray.get(sample_id), rng, DEFAULT_SCAN_GRID)

    def spectrum(sample_id: str, wavelength_nm: np.ndarray) -> np.ndarray:
        sample = lab_box[0].tray.get(sample_id)
        return absorbance(world.outcome(sample.dosed_mg, sample.anneals).fractions, wavelength_nm, rng)

    if isinstance(faults, FaultSettings):
        names = [*roles.dosing, *roles.furnaces, *roles.diffractometer, *roles.spectrometer]
        faults = {name: FaultPlan(**options) for name, options in faults.plan_options(names).items()}
    lab = SimulatedLab(clock=clock, pattern_source=pattern, dosing=roles.dosing, furnaces=roles.furnaces,
                       diffractometers=roles.diffractometer, faults=faults, seed=seed, transport=transport,
                       spectrometers=roles.spectrometer, spectrum_source=spectrum)
    lab_box.append(lab)
    return lab


@contextlib.contextmanager
def served_simulated_lab(lab_file: str | Path, *, speed: float = 1800.0, seed: int = 0,
                         roles: InstrumentsSpec | None = None, faults: FaultSettings | None = None) -> Iterator[SimulatedLab]:
    """Serve the simulated lab on loopback sockets on accelerated real time; write its lab file.

    Workers in other processes connect with ``--lab-file`` exactly as to real instruments; the
    file's ``[clock]`` table makes them share the accelerated clock (``speed`` simulated seconds
    per real second). The simulators (and what they hold) outlive any worker that is killed.
    ``faults`` are injected by the simulators and written to the file as its ``[faults]`` table.
    """
    clock = ScaledClock(speed, WallClock().now(), wall_origin=time.time())
    lab = _simulated_lab(roles or InstrumentsSpec(), clock, seed, faults, "socket")
    try:
        lines = ["# written by `lab simulate`: the simulated lab on loopback sockets", "[clock]",
                 f"speed = {clock.speed}", f'origin = "{clock.origin.isoformat()}"', f"wall_origin = {clock.wall_origin!r}", ""]
        lines += [*faults.toml_lines(), ""] if faults is not None else []
        for name, (kind, url) in lab.endpoints.items():
            lines += ["[[instrument]]", f'name = "{name}"', f'kind = "{kind}"', f'port = "{url}"', ""]
        Path(lab_file).write_text("\n".join(lines), encoding="utf-8")
        yield lab
    finally:
        lab.close()


@contextlib.contextmanager
def hardware_rig(lab_file: str | Path) -> Iterator[Rig]:
    """Drivers for the real instruments listed in ``lab_file``, on the wall clock."""
    entries, clock = load_lab_file(lab_file)
    drivers = {e["name"]: open_instrument(e["kind"], e["port"], e["name"], serial=e.get("serial", {}),
                                          **e.get("limits", {})) for e in entries}
    try:
        yield Rig(drivers, clock, False)
    finally:
        for d in drivers.values():
            d.close()


def load_lab_file(path: str | Path) -> tuple[list[dict[str, Any]], Clock]:
    """The ``[[instrument]]`` entries of a lab file, every field checked, and its clock.

    See :func:`flows.campaign.lab_file.load_lab_file` (the checks, ``serial`` included, live there).
    """
    return _lab_file.load_lab_file(path)


def injected_faults(lab: SimulatedLab) -> list[InjectedFault]:
    """Every fault the simulators of ``lab`` injected so far, in the order each device injected them."""
    return [InjectedFault(name, e.kind, e.at, e.line, e.key, e.cut) for name, dev in lab.devices.items()
            for e in list(dev.faults.events)]


def fault_counts(lab: SimulatedLab) -> dict[str, dict[str, int]]:
    """Faults injected so far by each simulator's injector, by kind (zeros included)."""
    return {name: dev.faults.counts for name, dev in lab.devices.items()}


def world_target_fractions(spec: CampaignSpec, params: list[dict[str, Any]], n_worlds: int, seed: int) -> np.ndarray:
    """True target-phase weight fractions of ``params`` in ``n_worlds`` sampled materials worlds, ``(W, P)``.

    The worlds' kinetic and thermodynamic parameters are drawn by :meth:`WorldParameters.sample`
    (the first world is the default one); the experiment follows ``spec.workflow`` (precursor
    masses from the composition, one anneal). Used to build training tasks for the RL policy.
    """
    from lab.workflow import plan_steps

    rng = np.random.default_rng([int(seed), 31337])
    worlds = [MaterialsWorld(WorldParameters.default() if w == 0 else WorldParameters.sample(rng)) for w in range(n_worlds)]
    out = np.zeros((n_worlds, len(params)))
    wf = spec.workflow
    for j, p in enumerate(params):
        dose, anneal, _ = plan_steps(p, wf)
        record = AnnealRecord(anneal.command["temperature_c"], anneal.command["dwell_h"], anneal.command["ramp_c_per_min"],
                              anneal.command["atmosphere"])
        for w, world in enumerate(worlds):
            out[w, j] = world.outcome(dose.command["masses_mg"], [record]).fractions.get(wf.target_phase, 0.0)
    return out
