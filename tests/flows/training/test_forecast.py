"""Learning-curve forecast (flows.training.forecast) and ``lab forecast``: fits, intervals, refusals, bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from flows.cli.forecast import register
from flows.errors import FlowError, ForecastRefused, TrainingRunError
from flows.training.forecast import (
    SigmoidFit,
    bootstrap_asymptote,
    fit_sigmoid,
    forecast_run,
    sigmoid_curve,
)

# (R0, A, C_mid, B, last compute): a run that goes well past C_mid, as ScaleRL's fits do.
PARAMS = [(0.1, 0.8, 2e5, 1.5, 1e6), (0.0, 0.5, 1e5, 1.0, 1e6), (0.2, 0.9, 3e5, 2.5, 1e6)]


def _curve(params, seed, n=41, noise=0.015, c0=True):
    R0, A, C_mid, B, c_max = params
    C = np.linspace(0.0 if c0 else c_max / n, c_max, n)
    sd = noise * (A - R0)
    return C, sigmoid_curve(C, R0, A, C_mid, B) + np.random.default_rng(seed).normal(0.0, sd, n), sd


def _write_run(tmp: Path, params=PARAMS[0], planned=40, completed=40, seed=0, lines=None) -> Path:
    R0, A, C_mid, B, c_max = params
    run = tmp / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"name": "ppo-test", "planned_iterations": planned,
                                              "completed_iterations": completed, "device": "cpu", "config": {}}))
    if lines is None:
        rng = np.random.default_rng(seed)
        lines = []
        for it in range(completed + 1):
            steps = int(it * c_max / planned)
            score = float(sigmoid_curve(steps, R0, A, C_mid, B)) + rng.normal(0.0, 0.015 * (A - R0))
            lines.append(json.dumps({"iteration": it, "env_steps": steps, "device_seconds": 0.5 * it, "score": score}))
    (run / "curve.jsonl").write_text("\n".join(lines) + "\n")
    return run


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_curve_limits_and_compute_to_a_fraction() -> None:
    assert sigmoid_curve(0.0, 0.1, 0.8, 2e5, 1.5) == pytest.approx(0.1)
    assert sigmoid_curve(2e5, 0.1, 0.8, 2e5, 1.5) == pytest.approx(0.45)
    assert sigmoid_curve(1e15, 0.1, 0.8, 2e5, 1.5) == pytest.approx(0.8)
    fit = SigmoidFit(R0=0.1, A=0.8, C_mid=2e5, B=1.5, rms=0.0, n_points=10)
    assert float(fit.predict(fit.compute_for(0.95))) == pytest.approx(0.1 + 0.95 * 0.7)
    assert SigmoidFit.from_dict(json.loads(json.dumps(fit.to_dict()))) == fit


@pytest.mark.parametrize("params", PARAMS)
def test_recovers_known_parameters_with_a_calibrated_interval(params) -> None:
    R0, A, C_mid, B, _ = params
    covered = 0
    for seed in range(5):
        C, y, sd = _curve(params, seed)
        fit = fit_sigmoid(C, y)
        assert abs(fit.A - A) < 4 * sd, (seed, fit)  # the asymptote to within a few noise sd
        assert fit.B == pytest.approx(B, rel=0.3) and fit.C_mid == pytest.approx(C_mid, rel=0.3)
        assert fit.rms == pytest.approx(sd, rel=0.5)
        lo, hi = bootstrap_asymptote(C, y, n_boot=60, seed=seed, level=0.9)
        assert lo < fit.A < hi and hi - lo < 10 * sd
        covered += lo <= A <= hi
    assert covered >= 4, f"true A inside the 90% interval for only {covered} of 5 seeds"


def test_fits_r0_when_no_point_has_zero_compute_and_resists_an_outlier() -> None:
    C, y, sd = _curve(PARAMS[0], seed=3, c0=False)
    fit = fit_sigmoid(C, y)
    assert fit.r0_fitted and abs(fit.R0 - 0.1) < 0.1 and abs(fit.A - 0.8) < 5 * sd
    C, y, sd = _curve(PARAMS[0], seed=3)
    y[30] -= 0.5  # one broken evaluation
    assert abs(fit_sigmoid(C, y).A - 0.8) < 5 * sd


def test_refuses_less_than_half_a_run(tmp_path: Path) -> None:
    run = _write_run(tmp_path, planned=100, completed=40)
    with pytest.raises(ForecastRefused, match=r"40 of 100 .*at least 50%") as info:
        forecast_run(run, n_boot=20)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FlowError)
    result = CliRunner().invoke(_app(), ["forecast", str(run)])
    assert result.exit_code == 2 and "40 of 100" in result.output
    assert forecast_run(run, min_fraction=0.4, n_boot=20).completed_iterations == 40


def test_refuses_fewer_than_five_points(tmp_path: Path) -> None:
    lines = [json.dumps({"iteration": i, "env_steps": 100 * i, "device_seconds": 1.0 * i, "score": 0.1 * i})
             for i in range(4)]
    with pytest.raises(ForecastRefused, match="4 evaluations; expected at least 5"):
        forecast_run(_write_run(tmp_path, lines=lines), n_boot=20)


def test_backtest_on_half_a_run_predicts_the_end(tmp_path: Path) -> None:
    run = _write_run(tmp_path, params=(0.1, 0.8, 1e5, 1.5, 1e6), seed=1)
    fc = forecast_run(run, fit_fraction=0.5, n_boot=60, level=0.9)
    truth = float(sigmoid_curve(1e6, 0.1, 0.8, 1e5, 1.5))
    bt = fc.backtest
    assert bt is not None and bt.fit_fraction == 0.5 and fc.last_iteration == 20 and fc.n_points == 20
    assert abs(bt.predicted - truth) < 0.03 and bt.abs_error < 0.05 and bt.covered
    assert bt.low < bt.predicted < bt.high
    assert fc.A_low < 0.8 < fc.A_high and 0.0 < fc.gain_fraction < 1.0
    assert fc.gap == pytest.approx(fc.A - fc.last_smoothed)
    json.dumps(fc.to_dict(), allow_nan=False)


def test_cli_prints_table_and_verdict_and_writes_json(tmp_path: Path) -> None:
    run = _write_run(tmp_path, seed=2)
    out = tmp_path / "fc.json"
    result = CliRunner().invoke(_app(), ["forecast", str(run), "--compute", "device_seconds", "--json", str(out),
                                         "--n-boot", "30"])
    assert result.exit_code == 0, result.output
    assert "device seconds the run has reached" in result.output and "A = " in result.output
    d = json.loads(out.read_text())
    assert d["axis"] == "device_seconds" and d["n_points"] == 40 and d["A_low"] < d["A"] < d["A_high"]
    assert d["backtest"] is None and math.isfinite(d["compute_to_95"])


@pytest.mark.parametrize("bad, why", [
    ('{"iteration": 2, "env_steps": 200, "device_seconds": 2.0, "score": ', "not valid JSON"),
    ('{"iteration": 2, "env_steps": 200, "device_seconds": 2.0, "score": NaN}', "'score' is nan"),
    ('{"iteration": 2, "env_steps": 200, "device_seconds": 2.0}', "'score' is None"),
    ('[1, 2]', "expected a JSON object"),
])
def test_malformed_curve_names_file_and_line(tmp_path: Path, bad: str, why: str) -> None:
    lines = [json.dumps({"iteration": i, "env_steps": 100 * i, "device_seconds": 1.0 * i, "score": 0.1 * i})
             for i in range(10)]
    lines[2] = bad
    run = _write_run(tmp_path, lines=lines)
    with pytest.raises(TrainingRunError, match=rf"curve\.jsonl:3: {why}"):
        forecast_run(run, n_boot=20)
    assert CliRunner().invoke(_app(), ["forecast", str(run)]).exit_code == 2


def test_missing_run_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingRunError, match=r"run\.json: missing"):
        forecast_run(tmp_path, n_boot=20)


def test_the_rl_phase_alone_counts_compute_from_the_end_of_imitation(tmp_path: Path) -> None:
    """Imitation iterations 0-9 plateau at 0.3; PPO then climbs a sigmoid from there, counted from its start."""
    rng = np.random.default_rng(4)
    lines = []
    for it in range(41):
        steps = 1000 * it
        ppo = max(it - 10, 0) * 1000
        score = 0.3 if it <= 10 else float(sigmoid_curve(ppo, 0.3, 0.7, 8000, 2.0))
        lines.append(json.dumps({"iteration": it, "env_steps": steps, "device_seconds": 0.5 * it,
                                 "score": score + rng.normal(0.0, 0.004)}))
    run = _write_run(tmp_path, lines=lines)
    meta = json.loads((run / "run.json").read_text())
    meta["config"] = {"imitation_iterations": 10}
    (run / "run.json").write_text(json.dumps(meta))
    fc = forecast_run(run, phase="ppo", n_boot=40)
    assert fc.C_mid == pytest.approx(8000, rel=0.25) and fc.A == pytest.approx(0.7, abs=0.03)
    assert fc.R0 == pytest.approx(0.3, abs=0.01)  # the first PPO evaluation (compute 0) sets R0
    bounded = forecast_run(run, phase="ppo", n_boot=40, max_score=0.65)
    assert bounded.A <= 0.65 + 1e-9 and bounded.A_high <= 0.65 + 1e-9
    backtest = forecast_run(run, phase="ppo", n_boot=40, fit_fraction=0.5)  # fits PPO iterations up to 25
    assert backtest.backtest is not None and backtest.last_iteration <= 25


def test_the_rl_phase_needs_an_evaluation_where_imitation_ended(tmp_path: Path) -> None:
    run = _write_run(tmp_path)
    meta = json.loads((run / "run.json").read_text())
    meta["config"] = {"imitation_iterations": 100}
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ForecastRefused, match="iteration 100"):
        forecast_run(run, phase="ppo", n_boot=20)
