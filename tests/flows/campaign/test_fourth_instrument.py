"""A fourth instrument, end to end: a campaign whose workflow adds a UV-Vis spectrum runs to completion.

The UV-Vis spectrometer is a driver (instruments/spectrometer.py), a simulator
(simulators/spectrometer.py) and a workflow entry (``workflow.uvvis_nm``); the engine, the
dispatcher and the instrument calls are unchanged. Each experiment's spectrum is stored whole,
and it shows the absorption edge of what the sample became: the best BaTiO3 samples absorb
in the UV (band gap 3.2 eV, about 390 nm) and hardly at all in the visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import flow

import db
from flows.campaign.flow import run_campaign
from flows.campaign.runtime import simulated_rig
from lab.clock import DEFAULT_SIM_START
from lab.experiment import ExperimentState
from lab.spec import CampaignSpec, example_path, parse_spec


def uvvis_spec(experiments: int) -> tuple[str, CampaignSpec]:
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", f"experiments = {experiments}").replace('name = "rl"', 'name = "sobol"')
    text = text.replace('diffractometer = ["xrd"]', 'diffractometer = ["xrd"]\nspectrometer = ["uvvis"]')
    text = text.replace("[workflow]\n", "[workflow]\nuvvis_nm = [250.0, 800.0, 5.0]\n")
    return text, parse_spec(text)


@flow(name="fourth-instrument")
def _run_on(store: db.Store, cid: int, spec: CampaignSpec, rig) -> str:
    return run_campaign(store, cid, spec, rig)


def test_a_campaign_with_a_uvvis_step_runs_to_completion(prefect_harness: None, tmp_path: Path) -> None:
    text, spec = uvvis_spec(5)
    store = db.open_store(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        with store.session() as s:
            cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                     reward=spec.reward_definition(), at=DEFAULT_SIM_START)
        with simulated_rig(spec, seed=spec.seed, start=DEFAULT_SIM_START) as rig:
            assert "uvvis" in rig.instruments
            assert _run_on(store, cid, spec, rig) == "completed"
            assert rig.lab is not None and rig.lab.devices["uvvis"].starts == 5
        with store.session() as s:
            experiments = db.list_experiments(s, cid)
            assert len(experiments) == 5
            edges = []
            for e in experiments:
                steps = db.list_steps(s, e.id)
                assert [st.name for st in steps] == ["dose", "anneal", "xrd", "uvvis"]
                assert all(st.state == "done" and st.attempts == 1 for st in steps)
                (m,) = db.load_measurements(s, e.id, name="uvvis_spectrum")
                spectrum = m.array()
                assert spectrum.shape == (111, 2) and m.units == "nm,absorbance" and m.instrument == "uvvis"
                assert e.state in (ExperimentState.REWARDED, ExperimentState.FAILED)
                fraction = db.latest_objectives(s, e.id) or {}
                uv = spectrum[spectrum[:, 0] <= 340, 1].mean()
                visible = spectrum[spectrum[:, 0] >= 500, 1].mean()
                edges.append((fraction.get("target_fraction", 0.0), uv - visible))
        # more BaTiO3 (by the XRD analysis) means a stronger UV edge in the spectrum
        best, worst = max(edges), min(edges)
        assert best[0] > worst[0] and best[1] > worst[1]
        assert np.isfinite([d for _, d in edges]).all()
    finally:
        store.dispose()
