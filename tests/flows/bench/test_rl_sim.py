"""`lab bench rl`: paired held-out campaigns and the experiments ratio against qLogNEI."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from flows.bench.rl_sim import (
    SimRun,
    experiments_ratio,
    held_out_tasks,
    run_task,
    summarise,
)
from flows.cli.app import app


def test_experiments_ratio_counts_experiments_to_the_baseline_final_regret() -> None:
    steps = np.arange(1, 21)
    baseline = np.tile(1.0 / steps, (5, 1))           # reaches its final regret 1/20 after 20 experiments
    faster = np.tile(1.0 / (2 * steps), (5, 1))       # reaches 1/20 after 10
    ratio, nb, nm, target = experiments_ratio(baseline, faster)
    assert (nb, nm) == (20, 10) and ratio == 2.0 and target == 1.0 / 20
    assert experiments_ratio(baseline, np.ones((5, 20)))[0] is None  # never reaches it


def test_methods_share_tasks_initial_experiments_and_regret_is_monotone() -> None:
    tasks = held_out_tasks(3, 40)
    runs = [run_task(tasks, i, m, horizon=8) for m in ("random", "sobol") for i in range(3)]
    for i in range(3):
        a, b = (r for r in runs if r.task == i)
        assert a.regret[:2] == b.regret[:2]            # the same 2 random initial experiments
    for r in runs:
        assert len(r.regret) == 8 and all(x >= y for x, y in zip(r.regret, r.regret[1:])) and r.regret[-1] >= 0
    summary = summarise(runs + [SimRun("qlognei", r.task, r.family, r.regret, 0.0, 0) for r in runs if r.method == "random"],
                        n_boot=50)
    assert summary["random"]["vs_qlognei"]["ratio"] == 1.0  # identical curves need the same experiments


def test_cli_runs_a_small_comparison_and_writes_json(tmp_path) -> None:
    out = tmp_path / "rl.json"
    result = CliRunner().invoke(app, ["bench", "rl", "--tasks", "2", "--candidates", "30", "--horizon", "6",
                                      "--methods", "random,sobol", "--json", str(out)])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(out.read_text())
    assert {r["method"] for r in data["runs"]} == {"random", "sobol"} and len(data["runs"]) == 4
    assert "machine" in data and data["summary"]["all"]["sobol"]["tasks"] == 2


def test_families_are_labelled_and_summarised_apart(tmp_path) -> None:
    tasks = held_out_tasks(2, 40, families=("ard", "grid"))
    assert [f for f in tasks.family] == ["ard", "ard", "grid", "grid"]
    out = tmp_path / "rl.json"
    result = CliRunner().invoke(app, ["bench", "rl", "--tasks", "1", "--candidates", "30", "--horizon", "5",
                                      "--methods", "random", "--families", "mlp,grid", "--json", str(out)])
    assert result.exit_code == 0, result.output
    import json

    assert set(json.loads(out.read_text())["summary"]) == {"all", "mlp", "grid"}
    bad = CliRunner().invoke(app, ["bench", "rl", "--families", "nope"])
    assert bad.exit_code == 2 and "unknown task famil" in bad.output


def test_env_benchmark_counts_the_steps_of_a_rollout(tmp_path) -> None:
    out = tmp_path / "env.json"
    result = CliRunner().invoke(app, ["bench", "env", "--threads", "1", "--envs", "3", "--candidates", "20",
                                      "--horizon", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    import json

    (row,) = json.loads(out.read_text())["rows"]
    assert row["steps"] == 3 * (5 - 2) and row["steps_per_s"] > 0 and row["device"] == "cpu"
