"""End to end: a queued campaign runs to completion through Prefect on the simulated lab.

Then the ledger is checked: every experiment in a terminal state, no step started twice on its
instrument, per-state timestamps in order, and each XRD pattern stored whole, bit for bit as the
diffractometer sent it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prefect import flow

import db
from flows.campaign.flow import campaign_flow, run_campaign
from flows.campaign.runtime import simulated_rig
from lab.experiment import TERMINAL_STATES, ExperimentState
from lab.spec import CampaignSpec, example_path, parse_spec

ORDER = ["proposed", "dispatched", "running", "measured", "rewarded"]


def small_spec(experiments: int = 8, policy: str = "qlognei") -> tuple[str, CampaignSpec]:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', f'name = "{policy}"')
    return text, parse_spec(text)


def queue(url: str, text: str, spec: CampaignSpec) -> int:
    store = db.open_store(url)
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=db_time())
    store.dispose()
    return cid


def db_time():
    from lab.clock import DEFAULT_SIM_START
    return DEFAULT_SIM_START


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_url")
    else:
        yield f"sqlite:///{tmp_path / 'lab.db'}"


def check_ledger(store: db.Store, cid: int, expected: int) -> list[db.ExperimentInfo]:
    with store.session() as s:
        experiments = db.list_experiments(s, cid)
        assert db.get_campaign(s, cid).status == "completed"
        assert len(experiments) == expected
        for e in experiments:
            assert e.state in TERMINAL_STATES, (e.sample_id, e.state)
            times = [e.timestamps[k] for k in ORDER if k in e.timestamps]
            assert times == sorted(times), e.timestamps
            steps = db.list_steps(s, e.id)
            if e.state == ExperimentState.REWARDED:
                assert [st.name for st in steps] == ["dose", "anneal", "xrd"]
                for st in steps:
                    assert st.state == "done" and st.attempts == 1, st
                    assert st.intent_at <= st.acked_at <= st.done_at
                assert [st.done_at for st in steps] == sorted(st.done_at for st in steps)
    return experiments


def test_queued_campaign_runs_to_completion_through_prefect(prefect_harness: None, url: str) -> None:
    text, spec = small_spec(8)
    cid = queue(url, text, spec)
    assert campaign_flow(cid, store=db.store_handle(url)) == "completed"
    store = db.open_store(url)
    try:
        experiments = check_ledger(store, cid, 8)
        assert sum(e.state == ExperimentState.REWARDED for e in experiments) >= 6
        with store.session() as s:
            assert db.load_state(s, cid, now=db_time()).best() is not None
    finally:
        store.dispose()


@flow(name="e2e-on-a-test-rig")
def _run_on(store: db.Store, cid: int, spec: CampaignSpec, rig) -> str:
    return run_campaign(store, cid, spec, rig)


def test_every_job_started_once_and_patterns_stored_bit_for_bit(prefect_harness: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    text, spec = small_spec(6, policy="sobol")
    cid = queue(url, text, spec)
    store = db.open_store(url)
    try:
        with simulated_rig(spec, seed=spec.seed, start=db_time()) as rig:
            assert _run_on(store, cid, spec, rig) == "completed"
            experiments = check_ledger(store, cid, 6)
            starts = {name: dev.starts for name, dev in rig.lab.devices.items()}
            assert starts["doser"] == 6 and starts["xrd"] == 6
            assert sum(v for k, v in starts.items() if k.startswith("furnace")) == 6
            with store.session() as s:
                for e in experiments:
                    (m,) = db.load_measurements(s, e.id, name="xrd_pattern")
                    xrd_step = [st for st in db.list_steps(s, e.id) if st.name == "xrd"][0]
                    two_theta, counts = rig.instruments[xrd_step.instrument].fetch_pattern(xrd_step.idempotency_key)
                    stored = m.array()
                    assert stored.dtype == np.dtype("<f8") and stored.shape == (len(counts), 2)
                    assert stored[:, 0].tobytes() == np.asarray(two_theta, "<f8").tobytes()
                    assert stored[:, 1].tobytes() == np.asarray(counts, "<f8").tobytes()
    finally:
        store.dispose()
