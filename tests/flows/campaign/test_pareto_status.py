"""`lab status ID` of a campaign with two objectives and a constraint: the Pareto set of feasible
experiments, on a simulated campaign run by a real worker (the shipped example, no atmosphere parameter)."""

from __future__ import annotations

import io

from rich.console import Console

import db
from flows.campaign.report import CampaignSummary, summarise, summary_tables
from flows.campaign.runtime import Rig
from lab.clock import DEFAULT_SIM_START
from lab.experiment import ExperimentState
from lab.pareto import dominates
from lab.spec import example_path, parse_spec

SENSES = ("maximize", "minimize")


def _rendered(summary: CampaignSummary) -> str:
    out = io.StringIO()
    console = Console(file=out, width=240)
    for table in summary_tables(summary):
        console.print(table)
    return out.getvalue()


def test_status_lists_the_non_dominated_feasible_experiments(store: db.Store, rig: Rig, run_worker) -> None:
    text = example_path("batio3_pareto").read_text(encoding="utf-8")
    text = (text.replace("experiments = 16", "experiments = 6").replace('name = "qlognehvi"', 'name = "sobol"')
            .replace("options = { pool_size = 512 }\n", "").replace("max = 0.05 ", "max = 0.2 "))
    spec = parse_spec(text)
    assert spec.workflow.atmosphere is None and [c.high for c in spec.constraint_list()] == [0.2]
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
    run_worker(store, rig, "pareto-worker")
    with store.session() as s:
        experiments = db.list_experiments(s, cid)
        values = db.objectives_for(s, cid)
        anneals = [st.command["atmosphere"] for e in experiments for st in db.list_steps(s, e.id) if st.name == "anneal"]
    assert len(experiments) == 6 and anneals and set(anneals) == {"air"}  # the documented default
    measured = {e.sample_id: (values[e.id]["target_fraction"], values[e.id]["impurity_fraction"]) for e in experiments
                if ExperimentState(e.state) in (ExperimentState.MEASURED, ExperimentState.REWARDED)}
    feasible = {k: v for k, v in measured.items() if v[1] <= 0.2}
    expected = {k for k, v in feasible.items() if not any(dominates(w, v, SENSES) for w in feasible.values())}

    summary = summarise(store, cid, DEFAULT_SIM_START)
    assert summary.objectives == ["target_fraction", "impurity_fraction"]
    assert expected and {r["sample"] for r in summary.pareto} == expected
    targets = [r["objectives"]["target_fraction"] for r in summary.pareto]
    assert targets == sorted(targets, reverse=True)
    for r in summary.pareto:
        assert (r["objectives"]["target_fraction"], r["objectives"]["impurity_fraction"]) == feasible[r["sample"]]
        assert set(r["params"]) == {"cations", "temperature_c", "dwell_h"}
    assert summary.constrained and summary.best is not None and summary.best["sample"] in feasible  # best feasible only
    with store.session() as s:
        rewards = db.rewards_for(s, cid, summary.reward_version)
    by_sample = {e.sample_id: rewards[e.id] for e in experiments if e.id in rewards and e.sample_id in feasible}
    assert summary.best["reward"] == max(by_sample.values())
    shown = _rendered(summary)
    assert "best feasible result" in shown
    assert f"Pareto set ({len(expected)} non-dominated feasible experiments)" in shown
    assert all(sample in shown for sample in expected)
    assert not any(sample in shown.split("Pareto set")[1] for sample in set(measured) - expected)


def test_one_objective_has_no_pareto_table() -> None:
    summary = CampaignSummary(1, "one", "completed", 1.0, {}, None, objectives=["target_fraction"])
    assert "Pareto set" not in _rendered(summary)
