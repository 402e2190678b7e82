"""``lab simulate``: serve the simulated lab for workers in other processes, faults included.

The faults come from a ``[faults]`` table (:mod:`flows.campaign.fault_settings`): the one in
``--faults FILE`` if given, else the one already in the ``--lab-file`` (a lab file the command
wrote before, with a ``[faults]`` table added by hand). The table is validated before any
simulator starts (one line per bad field, exit 2) and written into the regenerated lab file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from flows.campaign.fault_settings import FaultSettings, read_fault_table
from flows.campaign.runtime import served_simulated_lab
from flows.cli.errors import friendly
from lab.errors import SpecError
from lab.spec import InstrumentsSpec

__all__ = ["register", "simulation_faults"]


def simulation_faults(lab_file: Path, faults_file: Optional[Path]) -> FaultSettings | None:
    """The faults to serve: ``faults_file``'s ``[faults]`` table (required there), else ``lab_file``'s, else none.

    Raises:
        SpecError: the table is malformed, or ``faults_file`` has none.
    """
    source = faults_file if faults_file is not None else lab_file
    settings = read_fault_table(source) if source.is_file() or faults_file is not None else None
    if settings is None and faults_file is not None:
        raise SpecError(str(faults_file), ["faults: expected a [faults] table (rate, kinds, stuck, restarts_per_day, ...)"])
    if settings is not None:
        roles = InstrumentsSpec()  # the lab `lab simulate` serves
        settings.targets([*roles.dosing, *roles.furnaces, *roles.diffractometer, *roles.spectrometer], str(source))
    return settings


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""

    @app.command()
    @friendly
    def simulate(lab_file: Path = typer.Option(Path("simulated-lab.toml"), "--lab-file", help="Where to write the lab "
                                               "file (its [faults] table, if it has one, is served and kept)."),
                 speed: float = typer.Option(1800.0, "--speed", min=1.0, help="Simulated seconds per real second."),
                 seed: int = typer.Option(0, "--seed", help="Seed of the materials world and the instruments."),
                 faults: Optional[Path] = typer.Option(None, "--faults", help="A TOML file whose [faults] table the "
                                                       "simulators inject (default: the lab file's own).")) -> None:
        """Serve the simulated lab on loopback sockets (accelerated time) for workers in other processes.

        Then, in another terminal: `lab worker --lab-file simulated-lab.toml`. Ctrl-C stops the simulators.
        """
        console = Console()
        settings = simulation_faults(lab_file, faults)
        with served_simulated_lab(lab_file, speed=speed, seed=seed, faults=settings) as lab:
            console.print(f"simulated lab ({', '.join(lab.endpoints)}) at {speed:g}x; lab file {lab_file}; Ctrl-C to stop")
            if settings is not None:
                console.print(settings.describe())
            try:
                while True:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                console.print("simulators stopped")
