"""``lab instruments ...``: commands about the instruments themselves.

``lab instruments selftest --simulated`` starts the simulated lab (dosing station, four furnaces,
diffractometer) and runs :func:`flows.campaign.selftest.selftest` on it; ``lab instruments selftest
--config LAB.toml`` does the same on the real instruments named in a lab file (see
:mod:`flows.campaign.runtime`), which really doses, heats and scans. It prints one table row per command
and exits with status 1 when any command failed, 2 for a usage error (a missing lab file,
neither or both of ``--simulated`` and ``--config``).

Errors become one line through :func:`flows.cli.errors.friendly`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.campaign.runtime import Rig, hardware_rig, simulated_rig
from flows.campaign.selftest import SelftestRow, selftest
from flows.cli.errors import friendly
from flows.errors import UsageError
from lab.spec import example_path, load_spec

__all__ = ["instruments_app", "selftest_command"]

instruments_app = typer.Typer(help="Check the instruments: run every command of each and report what works.",
                              no_args_is_help=True, add_completion=False)
console = Console()


@instruments_app.callback()
def instruments() -> None:
    """Check the instruments: run every command of each and report what works."""


@instruments_app.command("selftest")
@friendly
def selftest_command(
    simulated: bool = typer.Option(False, "--simulated", help="Start the simulated lab and test it."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="LAB.toml",
                                          help="Lab file naming the real instruments and their ports."),
    max_wait: float = typer.Option(900.0, "--max-wait", min=0.0,
                                   help="Longest real wait for one instrument's job to finish (seconds)."),
) -> None:
    """Run every command of every configured instrument; print command, result and time.

    Exits 1 if any command failed. Real instruments really work: ~10 mg dosed, furnaces at 200 °C.
    """
    if simulated == (config is not None):
        raise UsageError("give exactly one of --simulated (start the simulators) or --config LAB.toml "
                         "(the real instruments in a lab file)")
    if config is not None and not config.is_file():
        raise UsageError(f"lab file {config} not found")
    with _open_rig(config) as rig:
        if not rig.simulated:
            console.print(f"[bold yellow]real instruments[/] from {config}: the dosing station doses ~10 mg per "
                          "precursor, each furnace heats to 200 °C, the diffractometer scans sample SELFTEST; "
                          f"waiting up to {max_wait:g} s per job", highlight=False, soft_wrap=True)
        rows = selftest(rig, max_wait_s=max_wait)
    console.print(selftest_table(rows, "simulated lab" if config is None else str(config)))
    failed = sum(not row.ok for row in rows)
    colour = "red" if failed else "green"
    console.print(f"[bold {colour}]{len(rows)} commands, {failed} failed[/]", highlight=False)
    if failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def _open_rig(config: Optional[Path]) -> Iterator[Rig]:
    """The simulated lab of the BaTiO3 example (no ``config``), or the lab file's instruments."""
    if config is None:
        with simulated_rig(load_spec(example_path("batio3"))) as rig:
            yield rig
    else:
        with hardware_rig(config) as rig:
            yield rig


def selftest_table(rows: list[SelftestRow], where: str) -> Table:
    """The self-test rows as a table: instrument, command, result, time (ms), ok."""
    table = Table(title=f"Instrument self-test: {where}")
    table.add_column("instrument")
    table.add_column("command")
    table.add_column("result", overflow="fold")
    table.add_column("ms", justify="right")
    table.add_column("ok", justify="center")
    for i, row in enumerate(rows):
        mark = "[green]✓[/]" if row.ok else "[bold red]✗[/]"
        result = escape(row.result) if row.ok else f"[red]{escape(row.result)}[/]"
        first = i == 0 or rows[i - 1].instrument != row.instrument
        last = i == len(rows) - 1 or rows[i + 1].instrument != row.instrument
        table.add_row(row.instrument if first else "", row.command, result, f"{row.seconds * 1000.0:.1f}", mark,
                      end_section=last)
    return table
