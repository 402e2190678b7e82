"""One small simulated campaign, run to completion once per test module, for the report's tests.

Six experiments in batches of two with two objectives (maximise ``target_fraction``, minimise
``impurity_fraction``), the Sobol policy (fast, and the same on every machine), one furnace whose every job gets stuck (so one step is lost and a warning is
logged), and a second reward version added afterwards (``lab relabel``'s code path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prefect import flow

import db
from flows.campaign.control import relabel
from flows.campaign.flow import run_campaign
from flows.campaign.runtime import Rig, simulated_rig
from lab.clock import DEFAULT_SIM_START
from lab.reward import RewardDefinition, RewardTerm
from lab.spec import CampaignSpec, example_path, parse_spec
from simulators.faults import FaultPlan

STUCK_FURNACE = "furnace-2"
EXPERIMENTS = 6


@dataclass(frozen=True)
class ReportCampaign:
    """A finished campaign in a SQLite store (the store stays open for the module)."""

    store: db.Store
    url: str
    campaign_id: int


def two_objective_spec(experiments: int = EXPERIMENTS, policy: str = "sobol") -> tuple[str, CampaignSpec]:
    """The shipped BaTiO3 spec, smaller, with impurity_fraction as a second (minimised) objective."""
    text = example_path("batio3").read_text(encoding="utf-8")
    text = (text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', f'name = "{policy}"')
            .replace("batch_size = 4", "batch_size = 2")
            .replace('direction = "maximize"\n', 'direction = "maximize"\n\n[[objectives]]\nname = "impurity_fraction"\n'
                     'direction = "minimize"\n', 1)
            .replace('terms = [{ objective = "target_fraction", weight = 1.0 }]',
                     'terms = [{ objective = "target_fraction", weight = 1.0 }, { objective = "impurity_fraction", weight = 0.5 }]'))
    return text, parse_spec(text)


@flow(name="report-test-campaign")
def _run(store: db.Store, campaign_id: int, spec: CampaignSpec, rig: Rig) -> str:
    return run_campaign(store, campaign_id, spec, rig)


@pytest.fixture(scope="module")
def report_campaign(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportCampaign]:
    """The finished campaign (see the module docstring)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'lab.db'}"
    text, spec = two_objective_spec()
    store = db.open_store(url)
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
    with simulated_rig(spec, seed=spec.seed, start=DEFAULT_SIM_START, faults={STUCK_FURNACE: FaultPlan(stuck=1.0)}) as rig:
        assert _run(store, cid, spec, rig) == "completed"
        finished = rig.clock.now()
    relabel(store, cid, RewardDefinition("v2", (RewardTerm("target_fraction", 1.0),)), finished)
    yield ReportCampaign(store, url, cid)
    store.dispose()
