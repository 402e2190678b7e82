"""Analysis versions: every reader takes an experiment's highest version, whatever the times say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.engine import Store
from db.errors import ConflictingRecord
from db.ledger import (
    latest_analyses,
    latest_analysis,
    latest_objectives,
    list_analyses,
    load_state,
    max_analysis_version,
    objectives_for,
    record_decision,
    store_analysis,
    transition,
)
from lab.experiment import ExperimentState, Proposal

H = timedelta(hours=1)


def test_the_highest_version_wins_for_every_reader(store: Store, new_campaign, t0) -> None:
    cid = new_campaign()
    with store.session() as s:
        a, b = record_decision(s, cid, [Proposal({"temperature_c": 900.0 + i, "atmosphere": "air"}, "random", "1")
                                        for i in range(2)], pending_ids=[], made_at=t0, expected_completion=None,
                               deadline=None)
        assert max_analysis_version(s, cid) == 0
        store_analysis(s, a, {"target_fraction": 0.5}, {}, t0 + 3 * H)  # version 1
        store_analysis(s, a, {"target_fraction": 0.7}, {"phases": ["BaTiO3"]}, t0 + H, version=3)  # older clock, higher version
        store_analysis(s, b, {"target_fraction": 0.2}, {}, t0 + 2 * H)
        store_analysis(s, b, {"target_fraction": 0.3}, {}, t0 + 2 * H)  # same time: version 2 by default
        for eid in (a, b):
            transition(s, eid, ExperimentState.DISPATCHED, t0)
            transition(s, eid, ExperimentState.RUNNING, t0)
            transition(s, eid, ExperimentState.MEASURED, t0 + 3 * H)
    with store.session() as s:
        assert [x.version for x in list_analyses(s, a)] == [1, 3] and [x.version for x in list_analyses(s, b)] == [1, 2]
        assert latest_analysis(s, a).detail == {"phases": ["BaTiO3"]} and latest_objectives(s, b) == {"target_fraction": 0.3}
        assert {k: v.version for k, v in latest_analyses(s, cid).items()} == {a: 3, b: 2}
        assert objectives_for(s, cid) == {a: {"target_fraction": 0.7}, b: {"target_fraction": 0.3}}
        state = load_state(s, cid, now=t0 + 4 * H)
        assert {o.experiment_id: o.objectives["target_fraction"] for o in state.observations} == {a: 0.7, b: 0.3}
        assert max_analysis_version(s, cid) == 3
    with pytest.raises(ConflictingRecord, match="higher version"):
        with store.session() as s:
            store_analysis(s, a, {"target_fraction": 0.1}, {}, t0 + 5 * H, version=3)
