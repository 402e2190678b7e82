"""Learning-curve forecast of an RL training run (ScaleRL, Khatri, Madaan et al. 2025).

Held-out score ``R`` (higher is better) against training compute ``C`` (env steps, or device
seconds) is fitted with the sigmoid of :mod:`flows.training.sigmoid`. Fitting it to at least half
of a run forecasts the asymptote ``A`` (with a residual-bootstrap interval) and how far the run is
from it; :func:`forecast_run` refuses earlier forecasts. A run directory holds ``run.json`` and
``curve.jsonl`` (written by ``lab train``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np

from flows.errors import ForecastRefused, TrainingRunError, UsageError
from flows.training.sigmoid import (
    MIN_POINTS,
    SigmoidFit,
    bootstrap_asymptote,
    bootstrap_fits,
    fit_sigmoid,
    sigmoid_curve,
)

__all__ = ["Backtest", "Forecast", "SigmoidFit", "bootstrap_asymptote", "fit_sigmoid", "forecast_run",
           "read_curve", "read_run", "sigmoid_curve"]

def _bad(path: Path, line: Optional[int], msg: str) -> TrainingRunError:
    return TrainingRunError(f"{path}{'' if line is None else f':{line}'}: {msg}")


def _number(path: Path, line: Optional[int], row: dict[str, Any], key: str, integer: bool = False) -> float:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
        raise _bad(path, line, f"'{key}' is {v!r}; expected {'an integer' if integer else 'a number'}")
    if not math.isfinite(v) or (key != "score" and v < 0):
        raise _bad(path, line, f"'{key}' is {v!r}; expected a finite{'' if key == 'score' else ' non-negative'} number")
    return v


def read_run(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a training-run directory, with ``planned``/``completed_iterations`` checked."""
    path = Path(run_dir) / "run.json"
    try:
        meta = json.loads(path.read_text(errors="replace"))
    except FileNotFoundError:
        raise _bad(path, None, "missing; expected the run's metadata written by `lab train`") from None
    except OSError as exc:
        raise _bad(path, None, f"cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise _bad(path, exc.lineno, f"not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise _bad(path, None, "expected a JSON object")
    for key in ("planned_iterations", "completed_iterations"):
        _number(path, None, meta, key, integer=True)
    if meta["planned_iterations"] <= 0:
        raise _bad(path, None, "'planned_iterations' must be > 0")
    return meta


def read_curve(run_dir: Path) -> list[dict[str, float]]:
    """The evaluations of ``curve.jsonl`` (blank lines skipped), sorted by iteration."""
    path = Path(run_dir) / "curve.jsonl"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        raise _bad(path, None, "missing; expected one JSON object per held-out evaluation") from None
    except OSError as exc:
        raise _bad(path, None, f"cannot be read ({exc.strerror})") from None
    rows = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(path, n, f"not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise _bad(path, n, "expected a JSON object")
        rows.append({"iteration": _number(path, n, row, "iteration", True),
                     "env_steps": _number(path, n, row, "env_steps", True),
                     "device_seconds": _number(path, n, row, "device_seconds"),
                     "score": _number(path, n, row, "score")})
    return sorted(rows, key=lambda r: r["iteration"])


@dataclass(frozen=True)
class Backtest:
    """Fit on the first ``fit_fraction`` of iterations; predict the last observed score (score units)."""

    fit_fraction: float
    compute: float
    observed: float
    predicted: float
    abs_error: float
    low: float
    high: float
    covered: bool


@dataclass(frozen=True)
class Forecast:
    """Forecast of a run. Scores in score units; ``C_mid``, ``last_compute``, ``compute_to_95`` in ``axis`` units.

    ``last_*``, ``gap`` and ``gain_fraction`` refer to the last point the fit saw; ``last_smoothed`` is
    the fitted curve there, ``gap = A - last_smoothed``, ``gain_fraction = (last_smoothed - R0)/(A - R0)``.
    ``compute_to_95``: compute at which the fitted curve reaches 95% of ``A - R0``.
    """

    run: str
    axis: str
    planned_iterations: int
    completed_iterations: int
    A: float
    A_low: float
    A_high: float
    level: float
    R0: float
    C_mid: float
    B: float
    rms: float
    n_points: int
    last_iteration: int
    last_compute: float
    last_score: float
    last_smoothed: float
    gap: float
    gain_fraction: float
    compute_to_95: float
    n_boot: int
    n_boot_ok: int
    backtest: Optional[Backtest] = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; non-finite floats become ``None``."""
        def clean(v: Any) -> Any:
            return {k: clean(w) for k, w in v.items()} if isinstance(v, dict) else (
                None if isinstance(v, float) and not math.isfinite(v) else v)
        return clean(asdict(self))


def forecast_run(run_dir: Path, *, compute: Literal["env_steps", "device_seconds"] = "env_steps",
                 min_fraction: float = 0.5, fit_fraction: Optional[float] = None, n_boot: int = 200,
                 seed: int = 0, level: float = 0.95, phase: Literal["all", "ppo"] = "all",
                 max_score: Optional[float] = None) -> Forecast:
    """Fit the curve of a training run and forecast its asymptote.

    Long by design: each refusal (too little of the run, too few points, nothing to backtest on)
    is checked where its data is at hand, before the fit.

    Args:
        run_dir: directory with ``run.json`` and ``curve.jsonl``.
        compute: the compute axis, ``"env_steps"`` or ``"device_seconds"`` (s).
        min_fraction: refuse when ``completed_iterations / planned_iterations`` is below it.
        fit_fraction: backtest: fit only the first ``fit_fraction`` of the iterations (of the phase)
            and predict the last observed score, with a ``level`` bootstrap prediction interval.
        n_boot, seed, level: bootstrap refits, their seed, and the interval's coverage.
        phase: ``"ppo"`` fits the RL phase alone: the evaluations from the end of imitation on,
            compute counted from there (the first of them gives ``R0``); ``"all"`` the whole run.
        max_score: upper bound of the asymptote (the largest possible score, 1.0 for Top%).

    Raises:
        ForecastRefused: too little of the run, fewer than 5 points, or no stable fit.
        TrainingRunError: a missing or malformed file (named with its line).
    """
    if compute not in ("env_steps", "device_seconds"):
        raise UsageError(f"compute must be 'env_steps' or 'device_seconds', got {compute!r}")
    meta, rows = read_run(run_dir), read_curve(run_dir)
    start = 0
    if phase == "ppo":
        start, rows = _ppo_phase(run_dir, meta, rows)
    planned, done = int(meta["planned_iterations"]), int(meta["completed_iterations"])
    if done / planned < min_fraction:
        raise ForecastRefused(f"{run_dir}: {done} of {planned} planned iterations completed ({done / planned:.0%}); "
                              f"a forecast needs at least {min_fraction:.0%} of the run")
    if len(rows) < MIN_POINTS:
        raise ForecastRefused(f"{run_dir}: curve.jsonl has {len(rows)} evaluations; expected at least {MIN_POINTS}")
    fit_rows = rows
    if fit_fraction is not None:
        if not 0 < fit_fraction < 1:
            raise UsageError(f"fit_fraction must lie in (0, 1), got {fit_fraction}")
        until = start + fit_fraction * (done - start)
        fit_rows = [r for r in rows if r["iteration"] <= until]
        if len(fit_rows) == len(rows):
            raise ForecastRefused(f"{run_dir}: no evaluation after iteration {until:g} to backtest on")
    C = np.array([r[compute] for r in fit_rows], dtype=float)
    y = np.array([r["score"] for r in fit_rows], dtype=float)
    if int(np.sum(C > 0)) < MIN_POINTS:
        raise ForecastRefused(f"{run_dir}: {int(np.sum(C > 0))} evaluations with {compute} > 0 to fit; "
                              f"expected at least {MIN_POINTS}")
    end = rows[-1]
    fit, A_s, pred_s = bootstrap_fits(C, y, n_boot, seed, None, float(end[compute]) if fit_fraction else None,
                                      max_score)
    tail = (1 - level) / 2
    A_low, A_high = (float(v) for v in np.quantile(A_s, [tail, 1 - tail]))
    backtest = None
    if fit_fraction is not None:
        lo, hi = (float(v) for v in np.quantile(pred_s, [tail, 1 - tail]))
        pred = float(fit.predict(float(end[compute])))
        backtest = Backtest(fit_fraction, float(end[compute]), end["score"], pred, abs(pred - end["score"]),
                            lo, hi, lo <= end["score"] <= hi)
    last = fit_rows[-1]
    smoothed = float(fit.predict(float(last[compute])))
    gain = fit.A - fit.R0
    return Forecast(str(meta.get("name", Path(run_dir).name)), compute, planned, done, fit.A, A_low, A_high, level,
                    fit.R0, fit.C_mid, fit.B, fit.rms, fit.n_points, int(last["iteration"]), float(last[compute]),
                    float(last["score"]), smoothed, fit.A - smoothed,
                    (smoothed - fit.R0) / gain if gain != 0 else math.nan,
                    fit.compute_for(0.95), n_boot, int(A_s.size), backtest)


def _ppo_phase(run_dir: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """The iteration where the RL phase starts (imitation ended), and its evaluations, compute counted from there."""
    start = int(meta.get("config", {}).get("imitation_iterations", 0))
    phase = [r for r in rows if int(r["iteration"]) >= start]
    if not phase or int(phase[0]["iteration"]) != start:
        raise ForecastRefused(f"{run_dir}: no evaluation at iteration {start}, where imitation ended and PPO began")
    origin = phase[0]
    return start, [{**r, "env_steps": r["env_steps"] - origin["env_steps"],
                    "device_seconds": r["device_seconds"] - origin["device_seconds"]} for r in phase]
