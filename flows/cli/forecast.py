"""``lab forecast RUN``: the learning-curve forecast of a training run (:mod:`flows.training.forecast`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.cli.errors import friendly
from flows.errors import UsageError
from flows.training.forecast import Forecast, forecast_run

__all__ = ["forecast_table", "register", "verdict"]

_UNITS = {"env_steps": "env steps", "device_seconds": "device seconds"}


def forecast_table(fc: Forecast) -> Table:
    """Parameters of the fitted curve, each with its value and (for ``A`` and a backtest) its interval."""
    t = Table(title=f"forecast of {fc.run} ({fc.completed_iterations}/{fc.planned_iterations} iterations, "
                    f"compute = {_UNITS[fc.axis]})")
    for col in ("parameter", "value", f"{fc.level:.0%} CI"):
        t.add_column(col)
    t.add_row("A (asymptote)", f"{fc.A:.4g}", f"[{fc.A_low:.4g}, {fc.A_high:.4g}]")
    t.add_row("R0 (score at no compute)", f"{fc.R0:.4g}", "")
    t.add_row("C_mid (half of the gain)", f"{fc.C_mid:.3g}", "")
    t.add_row("B (steepness)", f"{fc.B:.3g}", "")
    t.add_row("fit residual rms", f"{fc.rms:.3g}", "")
    t.add_row(f"last score (iteration {fc.last_iteration})", f"{fc.last_score:.4g}", "")
    t.add_row("last score, fitted", f"{fc.last_smoothed:.4g}", "")
    t.add_row("gap A - fitted last", f"{fc.gap:.3g}", "")
    t.add_row("fraction of the gain reached", f"{fc.gain_fraction:.1%}", "")
    t.add_row("compute to 95% of the gain", f"{fc.compute_to_95:.3g}", "")
    t.add_row("points fitted / bootstrap refits", f"{fc.n_points} / {fc.n_boot_ok} of {fc.n_boot}", "")
    bt = fc.backtest
    if bt is not None:
        t.add_row(f"backtest: predicted end (fit on {bt.fit_fraction:.0%})", f"{bt.predicted:.4g}",
                  f"[{bt.low:.4g}, {bt.high:.4g}]")
        t.add_row("backtest: observed end", f"{bt.observed:.4g}", "inside" if bt.covered else "OUTSIDE")
        t.add_row("backtest: abs error", f"{bt.abs_error:.3g}", "")
    return t


def verdict(fc: Forecast) -> str:
    """One line: how much of its forecast gain the run has reached, and the asymptote with its interval."""
    at = f"{fc.last_compute:.2g}".replace("e+0", "e").replace("e+", "e")
    return (f"at {at} {_UNITS[fc.axis]} the run has reached {fc.gain_fraction:.0%} of its forecast "
            f"gain; A = {fc.A:.3g} [{fc.A_low:.3g}, {fc.A_high:.3g}]")


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to a Typer app."""

    @app.command("forecast")
    @friendly
    def forecast_cmd(
        run: Path = typer.Argument(..., help="Training-run directory (run.json, curve.jsonl)."),
        compute: str = typer.Option("env_steps", "--compute", help="Compute axis: env_steps or device_seconds."),
        backtest: Optional[float] = typer.Option(None, "--backtest", min=0.05, max=0.95,
                                                 help="Fit only this fraction of the iterations; predict the end."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the forecast as JSON here."),
        min_fraction: float = typer.Option(0.5, "--min-fraction", min=0.0, max=1.0,
                                           help="Refuse runs with less than this fraction of planned iterations."),
        n_boot: int = typer.Option(200, "--n-boot", min=20, help="Bootstrap refits for the intervals."),
        phase: str = typer.Option("all", "--phase", help="all: the whole run; ppo: the RL phase alone "
                                  "(from the end of imitation, compute counted from there)."),
        max_score: Optional[float] = typer.Option(None, "--max-score", help="Upper bound of the asymptote "
                                                  "(the largest possible score; 1.0 for the Top% score)."),
    ) -> None:
        """Forecast a training run's asymptotic score (ScaleRL sigmoid fit, bootstrap interval)."""
        console = Console()
        if compute not in _UNITS:
            raise UsageError(f"--compute must be env_steps or device_seconds, not {compute!r}")
        if phase not in ("all", "ppo"):
            raise UsageError(f"--phase must be all or ppo, not {phase!r}")
        fc = forecast_run(run, compute=compute, min_fraction=min_fraction,  # type: ignore[arg-type]
                          fit_fraction=backtest, n_boot=n_boot, phase=phase, max_score=max_score)  # type: ignore[arg-type]
        console.print(forecast_table(fc))
        console.print(verdict(fc), highlight=False, soft_wrap=True)
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(fc.to_dict(), indent=1))
            console.print(f"wrote {json_path}")
