"""An instrument that cannot be opened is reported once, backed off, and its work goes elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import db
from flows.campaign.instrument_health import BACKOFF_S, InstrumentHealth
from flows.campaign.runtime import Rig, simulated_rig
from instruments.errors import InstrumentTimeout
from instruments.registry import open_instrument
from lab.clock import DEFAULT_SIM_START
from lab.spec import InstrumentsSpec, example_path, parse_spec


def test_the_back_off_doubles_up_to_its_cap_and_reports_only_changes() -> None:
    health = InstrumentHealth()
    now, retries = 0.0, []
    lines = [health.failed("xrd", InstrumentTimeout("no reply"), now_s=now)]
    for _ in range(len(BACKOFF_S) + 2):
        retry_at = next(t for t in (now + k for k in range(0, 1000)) if health.usable("xrd", now_s=t))
        retries.append(retry_at - now)
        now = retry_at
        lines.append(health.failed("xrd", InstrumentTimeout("no reply"), now_s=now))
    assert retries[:len(BACKOFF_S)] == list(BACKOFF_S) and retries[-1] == BACKOFF_S[-1]
    assert lines[0] is not None and "xrd cannot be reached (no reply)" in lines[0]
    assert all(line is None for line in lines[1:])
    assert health.down() == {"xrd": "no reply"}
    assert health.answered("xrd") is not None and health.answered("xrd") is None and health.down() == {}


@pytest.fixture
def rig_with_a_missing_furnace(prefect_harness: None, tmp_path: Path) -> Iterator[Rig]:
    with simulated_rig(InstrumentsSpec(), seed=3, start=DEFAULT_SIM_START) as rig:
        real = rig.instruments["furnace-1"]
        rig.instruments["furnace-1"] = open_instrument("furnace", str(tmp_path / "ttyUSB-unplugged"), "furnace-1")
        try:
            yield rig
        finally:
            rig.instruments["furnace-1"] = real


def test_a_furnace_whose_port_cannot_be_opened_is_reported_once_and_the_campaign_completes_on_the_others(
        tmp_path: Path, rig_with_a_missing_furnace: Rig, run_worker) -> None:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", "experiments = 6").replace('name = "rl"', 'name = "sobol"')
    spec = parse_spec(text)
    store = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
    assert run_worker(store, rig_with_a_missing_furnace, "w1") == [(cid, "completed")]
    with store.session() as s:
        assert db.count_by_state(s, cid)["rewarded"] == 6
        events = [e for e in db.list_events(s, cid) if e.kind == "instrument_unreachable"]
        steps = db.step_history(s)
    assert len(events) == 1 and "furnace-1 cannot be reached" in events[0].message and "ttyUSB-unplugged" in events[0].message
    assert not [st for st in steps if st.instrument == "furnace-1" and st.acked_at is not None]
    anneals = [st for st in steps if st.name == "anneal"]
    assert len(anneals) == 6 and {st.instrument for st in anneals} <= {"furnace-2", "furnace-3", "furnace-4"}
    store.dispose()
