"""The approval gate, batch by batch: `lab proposals`, `lab approve --decision`, `lab reject`, on a simulated lab."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

import db
from flows.campaign.review import WaitingExperiment, format_predicted
from flows.cli.app import app
from lab.experiment import ExperimentState
from lab.param_text import format_params
from lab.search_space import CategoricalParameter, ContinuousParameter, SearchSpace
from lab.state import CampaignState, Objective, Observation, RejectedProposal
from policies.candidates import CandidateSet
from policies.gp import QLogNEIPolicy
from policies.protocol import point_key
from policies.sobol import SobolPolicy
from tests.flows.campaign.test_control import engine, queue, spec_text, start

S = ExperimentState
runner = CliRunner()


def lab(store: db.Store, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", store.url])
    return result.exit_code, result.output


def experiments_of(store: db.Store, cid: int, index: int) -> list[db.ExperimentInfo]:
    with store.session() as s:
        return [e for e in db.list_experiments(s, cid) if e.decision_index == index]


def intent_samples(store: db.Store, cid: int) -> set[str]:
    with store.session() as s:
        return {i.idempotency_key.split(":")[0] for i in db.list_intents(s, [cid])}


def test_reject_one_batch_approve_another_and_only_that_one_runs(store: db.Store, rig) -> None:
    cid, spec = queue(store, spec_text(6, approval=True))
    eng = engine(store, cid, rig)
    start(eng)
    eng.tick()
    eng.tick()  # decision 0: four proposals (the batch size); decision 1: one more for the prefetch slot
    code, out = lab(store, "proposals", str(cid))
    assert code == 0, out
    assert "decision 0: 4 experiment(s) proposed" in out and "decision 1: 1 experiment(s) proposed" in out
    first = experiments_of(store, cid, 0)
    for e in first + experiments_of(store, cid, 1):
        ba = e.params["cations"]["Ba"]
        assert f"{e.sample_id}  cations=Ba{ba:.3f} Ti" in out and f"temperature_c={e.params['temperature_c']:.1f}" in out
    assert out.count("predicted: —") == 5  # sobol has no model, so no prediction

    code, out = lab(store, "reject", str(cid), "--decision", "0", "--reason", "Ba-rich corner is known to be bad")
    assert code == 0, out
    assert f"rejected decision 0 of campaign {cid}: {', '.join(e.sample_id for e in first)} cancelled" in out
    with store.session() as s:
        d0 = db.decision_at_index(s, cid, 0)
        events = [e for e in db.list_events(s, cid) if e.kind == "decision_rejected"]
    assert d0 is not None and d0.rejected_at is not None and d0.review_reason == "Ba-rich corner is known to be bad"
    assert all(e.state == S.CANCELLED and e.reason == "rejected: Ba-rich corner is known to be bad"
               for e in experiments_of(store, cid, 0))
    assert len(events) == 1 and events[0].detail["experiment_ids"] == [e.id for e in first]

    eng.tick()  # the freed slots and budget are proposed again, away from the rejected points
    with store.session() as s:
        state = db.load_state(s, cid, now=rig.clock.now())
    space = spec.search_space()
    rejected = {point_key(space.encode(e.params)) for e in first}
    again = experiments_of(store, cid, 2)
    assert len(again) == 4 and not rejected & {point_key(space.encode(e.params)) for e in again}
    assert [r.experiment_id for r in state.rejected] == [e.id for e in first]
    with store.session() as s:
        d2 = db.decision_at_index(s, cid, 2)
        assert d2 is not None
        seen_then = db.state_at_decision(s, d2.id)  # what the policy saw for decision 2; untold, sobol repeats them:
    assert seen_then.rejected == state.rejected
    blind = SobolPolicy().propose(dataclasses.replace(seen_then, rejected=()), 4)
    assert rejected & {point_key(space.encode(p.params)) for p in blind}

    code, out = lab(store, "approve", str(cid), "--decision", "1")
    assert code == 0 and f"approved 1 batch(es) of campaign {cid}: decisions [1]" in out, out
    (approved,) = experiments_of(store, cid, 1)
    for _ in range(30):
        eng.tick()
        with store.session() as s:
            if db.get_experiment(s, approved.id).state == S.REWARDED:
                break
        eng.wait()
    with store.session() as s:
        assert db.get_experiment(s, approved.id).state == S.REWARDED
        never = [st for e in first + again for st in db.list_steps(s, e.id)]
    assert intent_samples(store, cid) == {approved.sample_id}  # only the approved batch was ever dispatched
    assert never and all(st.state == "planned" and st.intent_at is None for st in never)
    assert all(e.state == S.PROPOSED for e in experiments_of(store, cid, 2))

    for args, message in ((("approve", str(cid), "--decision", "0"), f"decision 0 of campaign {cid} was rejected"),
                          (("approve", str(cid), "--decision", "9"), f"campaign {cid} has no decision 9"),
                          (("reject", str(cid), "--decision", "1", "--reason", "late"), "was already approved"),
                          (("reject", str(cid), "--decision", "2", "--reason", "  "), "give a reason")):
        code, out = lab(store, *args)
        assert code == 2 and message in " ".join(out.split()), (args, out)
    code, out = lab(store, "proposals", str(cid))
    assert "decision 2: 4 experiment(s)" in out and "decision 0" not in out and "decision 1:" not in out


def test_a_campaign_without_approval_has_nothing_waiting(store: db.Store, rig) -> None:
    cid, _ = queue(store, spec_text(4))
    eng = engine(store, cid, rig)
    start(eng)
    eng.tick()
    code, out = lab(store, "proposals", str(cid))
    assert code == 0 and out.strip() == "nothing waits for approval"
    code, out = lab(store, "approve", str(cid), "--decision", "0")
    assert code == 2 and "does not wait for approval" in out
    code, out = lab(store, "approve", str(cid))
    assert code == 0 and f"approved 0 batch(es) of campaign {cid}" in out


def test_the_gp_policy_never_proposes_a_rejected_point_and_states_its_prediction() -> None:
    space = SearchSpace((ContinuousParameter("temperature_c", 700.0, 1300.0), CategoricalParameter("atmosphere", ("air", "O2"))))
    grid = [{"temperature_c": 700.0 + 60.0 * i, "atmosphere": gas} for i in range(6) for gas in ("air", "O2")]
    seen = [Observation(grid[i], {"y": y}, y, experiment_id=i) for i, y in ((0, 0.1), (3, 0.5), (6, 0.9), (9, 0.4))]
    refused = [RejectedProposal(grid[i], "too close to the furnace limit") for i in (7, 8, 10)]
    state = CampaignState(space, (Objective("y"),), observations=tuple(seen), rejected=tuple(refused), seed=3)
    picks = QLogNEIPolicy(pool_size=64).with_candidates(CandidateSet(grid)).propose(state, 12)
    left = {point_key(space.encode(g)) for i, g in enumerate(grid) if i not in (0, 3, 6, 9, 7, 8, 10)}
    assert {point_key(space.encode(p.params)) for p in picks} == left  # every untried point but the rejected ones
    for p in picks:
        assert p.fallback is None and set(p.detail["predicted"]) == {"of", "mean", "std"}
        assert p.detail["predicted"]["of"] == "reward" and p.detail["predicted"]["std"] >= 0.0


def test_proposals_read_as_a_scientist_writes_them() -> None:
    params = {"cations": {"Ba": 0.5123, "Ti": 0.4877}, "temperature_c": 1023.44, "dwell_h": 3, "atmosphere": "O2"}
    assert format_params(params) == "cations=Ba0.512 Ti0.488, temperature_c=1023.4, dwell_h=3, atmosphere=O2"
    gp = WaitingExperiment("C1-E5", params, {"of": "reward", "mean": 0.8123, "std": 0.05}, None)
    early = WaitingExperiment("C1-E6", params, None, "sobol")
    assert (format_predicted(gp), format_predicted(early)) == ("reward 0.812 ± 0.050", "— (sobol fallback)")
