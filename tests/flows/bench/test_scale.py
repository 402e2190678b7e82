"""`lab bench scale`: a tiny lab on PostgreSQL with real worker processes, and the parts it is built from.

The run: 6 instruments (1 dosing station, 3 furnaces, 1 diffractometer, 1 spectrometer), 2
campaigns, workers 1 and 2 with the lab split by instrument, the quick campaign variant (1.9-2.9 h
furnace programs) for 8 simulated hours at 3600x, on the session's PostgreSQL server and Prefect
test server (about 40 s on a quiet two-core machine, most of it the workers' start-ups). The lab's
shares, the per-host audit, the commit probe and the command's one-line errors are checked
without processes.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

import db
from flows.bench.scale import ScaleConfig, scale_bench
from flows.bench.scale_figures import targets
from flows.bench.scale_lab import lab_shape, scale_limit, scale_spec
from flows.bench.scale_probe import Probe
from flows.bench.scale_split import audit_by_host, split_lab_files
from flows.cli.app import app
from flows.errors import FlowError

T0 = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)


@pytest.mark.timeout(300)
def test_a_tiny_split_lab_on_postgres_reports_sane_figures(prefect_harness: None, postgres_url: str,
                                                            tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    cfg = ScaleConfig(instruments=6, campaigns=2, hours=8.0, speed=3600.0, quick=True, model="split")
    checkpoints: list[int] = []
    report = scale_bench(cfg, (1, 2), postgres_url, prefect_api_url=PREFECT_API_URL.value(), out=tmp_path,
                         checkpoint=lambda r: checkpoints.append(len(r["runs"])))
    assert checkpoints == [1, 2] and report["complete"] and set(report["by_workers"]) == {"1", "2"}
    for w, run in report["by_workers"].items():
        assert run["workers"] == int(w) and run["clean_exits"] == int(w) and run["model"] == "split"
        assert 0.0 < run["controller_fraction"] <= run["controller_fraction_real_time"] <= 1.0
        assert run["double_claims"] == 0 and run["claims"]["foreign_intents"] == 0
        assert run["claims"]["intents"] >= 2  # both campaigns dosed something
        latency = run["write_latency_ms"]
        assert latency["n"] > 0 and 0.0 < latency["median"] <= latency["p99"] <= latency["max"]
        assert 0.0 <= run["throughput_ratio"] <= 1.5 and run["physical_limit"] > 0
        assert run["ledger"]["decisions"] >= 2 and run["ledger"]["busy_h"] > 0 and min(run["rounds"]) > 0
        assert run["window_h"] >= 8.0 and run["lab"] == {"dosing": 1, "furnaces": 3, "diffractometer": 1,
                                                         "spectrometer": 1, "total": 6}
        assert run["load_average"] and len(run["controller_cpu_s_by_worker"]) == int(w) and run["worker_cores"] > 0
        assert run["other_cpu_s"]["simulated_lab_and_bench"] > 0  # the Prefect server is the session's, not a child
    assert sum(r["completed"] for r in report["runs"]) >= 1
    assert set(report["by_workers"]["2"]["claims"]["by_share"]) == {"0", "1"}  # both hosts sent steps
    assert {"controller_fraction", "throughput_with_workers", "double_claims"} == set(report["targets"])
    assert report["targets"]["double_claims"]["ok"] and "load_average" in report["machine"]


def test_throughput_must_grow_with_every_worker_count_and_the_cores_are_told_apart(monkeypatch) -> None:
    def run(workers: int, ratio: float) -> dict[str, object]:
        return {"instruments": 50, "campaigns": 20, "policy": "sobol", "workers": workers, "throughput_ratio": ratio,
                "controller_fraction": 1e-4, "controller_fraction_real_time": 1e-3, "double_claims": 0}

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    main = ScaleConfig()
    flat = targets([run(1, 0.30), run(2, 0.40), run(4, 0.39)], main)["throughput_with_workers"]
    assert (flat["ok"], flat["grows_up_to_cores"], flat["cores"], flat["ratios"]) == (False, True, 2, [0.30, 0.40, 0.39])
    falls = targets([run(2, 0.40), run(1, 0.45)], main)["throughput_with_workers"]  # sorted by workers first
    assert falls["workers"] == [1, 2] and not falls["ok"] and not falls["grows_up_to_cores"]
    assert targets([run(1, 0.3), run(2, 0.5), run(4, 0.7)], main)["throughput_with_workers"]["ok"]


def test_the_lab_is_shared_out_in_proportion_and_furnaces_are_the_bottleneck() -> None:
    assert lab_shape(50).to_dict() == {"dosing": 5, "furnaces": 35, "diffractometer": 8, "spectrometer": 2, "total": 50}
    assert lab_shape(10).to_dict() == {"dosing": 1, "furnaces": 6, "diffractometer": 2, "spectrometer": 1, "total": 10}
    with pytest.raises(FlowError, match="at least 4"):
        lab_shape(3)
    _, spec = scale_spec(lab_shape(50), 1, 8, seed=0)
    assert spec.instruments.furnaces[-1] == "furnace-35" and spec.instruments.spectrometer == ["uvvis-1", "uvvis-2"]
    limit = scale_limit(spec, 24.0)
    assert limit["bottleneck"] == "furnace" and limit["program_mean_h"] == pytest.approx(5.0, abs=0.01)
    assert 0.85 < limit["ideal_ratio"] < 0.95 and 140 < limit["value"] < 168  # 35 furnaces x 24 h / 5 h, less the fill


def test_split_lab_files_deal_every_kind_out_and_keep_the_clock(tmp_path: Path) -> None:
    lines = ["[clock]", "speed = 600.0", 'origin = "2026-12-03T14:00:00+00:00"', "wall_origin = 1796306400.5", ""]
    for name, kind in [("doser-1", "dosing"), ("furnace-1", "furnace"), ("furnace-2", "furnace"),
                       ("furnace-3", "furnace"), ("xrd-1", "xrd"), ("uvvis-1", "uvvis")]:
        lines += ["[[instrument]]", f'name = "{name}"', f'kind = "{kind}"', 'port = "socket://127.0.0.1:9"', ""]
    (tmp_path / "lab.toml").write_text("\n".join(lines))
    files, share_of = split_lab_files(tmp_path / "lab.toml", 2, tmp_path)
    held = [[e["name"] for e in tomllib.loads(f.read_text())["instrument"]] for f in files]
    assert held == [["doser-1", "furnace-2", "xrd-1"], ["furnace-1", "furnace-3", "uvvis-1"]]
    assert all(tomllib.loads(f.read_text())["clock"]["wall_origin"] == 1796306400.5 for f in files)
    assert share_of["furnace-3"] == 1
    with pytest.raises(FlowError, match="cannot each hold"):
        split_lab_files(tmp_path / "lab.toml", 7, tmp_path)


def _intent(i: int, worker: str, instrument: str, s: float) -> db.StepIntentInfo:
    return db.StepIntentInfo(i, i, 1, f"k{i}", worker, instrument, 1, T0, T0 + timedelta(seconds=s))


def test_the_per_host_audit_allows_hosts_side_by_side_and_catches_two_on_one_share() -> None:
    share_of, holders = {"doser-1": 0, "furnace-1": 1}, ["w1", "w2"]
    fine = audit_by_host([_intent(1, "w1", "doser-1", 0), _intent(2, "w2", "furnace-1", 1)], share_of, holders, 120)
    assert (fine["double_claims"], fine["foreign_intents"]) == (0, 0)
    bad = audit_by_host([_intent(1, "w1", "doser-1", 0), _intent(2, "w2", "doser-1", 5)], share_of, holders, 120)
    assert (bad["double_claims"], bad["foreign_intents"]) == (1, 1)


def test_the_probe_times_write_commits_and_leaves_read_only_sessions_out(tmp_path: Path) -> None:
    store = db.open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        sessions = sessionmaker(bind=store.engine, expire_on_commit=False)
        probe = Probe()
        probe.install(sessions, rounds=False)
        text, spec = scale_spec(lab_shape(6), 1, 2, seed=0, quick=True)
        with sessions.begin() as s:
            db.create_campaign(s, name="probe", spec_toml=text, spec=spec.to_store_dict(), seed=0,
                               reward=spec.reward_definition(), at=T0)
        with sessions.begin() as s:
            db.list_campaigns(s)
        report = probe.report()
        assert report["commits"] == 1 and len(report["commit_ms"]) == 1 and report["commit_ms"][0] > 0
    finally:
        store.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "--workers"),
    (["--growth", "10by4"], "--growth"),
    (["--db", "sqlite:///x.db"], "runs on PostgreSQL"),
    (["--model", "mesh"], "--model"),
    (["--policy", "no-such-policy"], "no-such-policy"),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["bench", "scale", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
