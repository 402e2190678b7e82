"""`lab export`: a completed simulated campaign as CSV, JSON and Parquet, read back without pandas.

One campaign (sobol, 5 experiments) runs once on the simulated lab, is re-analysed (analysis
version 2) and relabelled under a second reward version; every test exports that SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import db
from flows.campaign import control
from flows.campaign.engine import CampaignEngine, EngineSettings
from flows.campaign.reanalysis import reanalyse
from flows.campaign.runtime import simulated_rig
from flows.cli.app import app
from flows.errors import UsageError
from flows.report.export import export_campaign
from flows.report.export_table import composition_amounts
from lab.clock import DEFAULT_SIM_START
from lab.reward import RewardDefinition, RewardTerm
from lab.spec import InstrumentsSpec, example_path, parse_spec
from policies.registry import make_policy

runner = CliRunner()
STATE_TIMES = ("proposed_at", "dispatched_at", "running_at", "measured_at", "rewarded_at")
TIMES = ("decision_made_at", *STATE_TIMES, "expected_completion_at", "analysed_at")
KINDS = ("dosed_mg", "temperature_log", "xrd_pattern")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> str:
    """Campaign 1: completed, re-analysed with three phases, rewards under v1 (active) and v2."""
    path = tmp_path_factory.mktemp("export") / "lab.db"
    store = db.open_store(f"sqlite:///{path}")
    text = example_path("batio3").read_text(encoding="utf-8")
    text = text.replace("experiments = 24", "experiments = 5").replace('name = "rl"', 'name = "sobol"')
    spec = parse_spec(text)
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=text, spec=spec.to_store_dict(), seed=spec.seed,
                                 reward=spec.reward_definition(), at=DEFAULT_SIM_START)
    with simulated_rig(InstrumentsSpec(), seed=3, start=DEFAULT_SIM_START) as rig:
        engine = CampaignEngine(store, cid, rig.instruments, rig.clock, make_policy("sobol"),
                                EngineSettings(poll_interval_s=3600.0), worker_id="test")
        assert engine.run() == "completed"
        reanalyse(store, cid, rig.clock.now(), phases=("BaTiO3", "BaCO3", "TiO2"))
        v2 = RewardDefinition("v2", (RewardTerm("target_fraction", 1.0), RewardTerm("fit_residual", 2.0)), -1.0)
        control.relabel(store, cid, v2, rig.clock.now())
    store.dispose()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def ledger(url: str) -> dict[str, dict]:
    """What the store holds, by sample id: the experiment, its rewards per version, its measurements."""
    store = db.open_store(url)
    with store.session() as s:
        out = {e.sample_id: {"e": e, "analysis": db.latest_analysis(s, e.id),
                             "rewards": {v: db.rewards_for(s, 1, v).get(e.id) for v in ("v1", "v2")},
                             "made": db.get_decision(s, e.decision_id).made_at,
                             "m": {m.name: m for m in db.load_measurements(s, e.id)}}
               for e in db.list_experiments(s, 1)}
    store.dispose()
    return out


@pytest.fixture
def store(url: str) -> Iterator[db.Store]:
    s = db.open_store(url)
    yield s
    s.dispose()


def utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    assert at.utcoffset() == timezone.utc.utcoffset(None)
    return at


def check_rows(rows: list[dict], ledger: dict[str, dict], number) -> None:
    """Rows hold what the ledger holds; ``number`` reads a numeric cell (CSV text or a JSON number)."""
    assert len(rows) == len(ledger) == 5
    for row in rows:
        stored = ledger[row["sample_id"]]
        e = stored["e"]
        assert number(row["experiment_id"]) == e.id and row["state"] == e.state.value
        assert row["policy"] == "sobol" and row["policy_version"] == e.policy_version
        assert number(row["Ba"]) + number(row["Ti"]) == pytest.approx(1.0)  # cation fractions: total 1
        assert number(row["Ba"]) == e.params["cations"]["Ba"]
        assert number(row["temperature_c"]) == e.params["temperature_c"] and row["atmosphere"] == e.params["atmosphere"]
        assert number(row["analysis_version"]) == 2 == stored["analysis"].version
        assert number(row["target_fraction"]) == stored["analysis"].objectives["target_fraction"]
        for version in ("v1", "v2"):
            assert number(row[f"reward_{version}"]) == stored["rewards"][version]
        assert utc(row["decision_made_at"]) == stored["made"]
        for name in STATE_TIMES:
            assert utc(row[name]) == e.timestamps[name.removesuffix("_at")]
        assert utc(row["expected_completion_at"]) == e.expected_completion
        assert utc(row["analysed_at"]) == stored["analysis"].created_at
        assert row["failed_at"] in ("", None) and row["decision_approved_at"] in ("", None)  # no approval needed


def check_measurements(folder: Path, ledger: dict[str, dict]) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{sample}_{k}.csv" for sample in ledger for k in KINDS)
    for sample, stored in ledger.items():
        with open(folder / f"{sample}_xrd_pattern.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["two_theta_deg", "counts"]
        assert np.array_equal(np.array(rows[1:], dtype=float), stored["m"]["xrd_pattern"].array())  # bit for bit
        with open(folder / f"{sample}_dosed_mg.csv", newline="") as f:
            dosed = list(csv.reader(f))
        assert dosed[0] == ["precursors", "dosed_mg"]
        assert [float(v) for _, v in dosed[1:]] == stored["m"]["dosed_mg"].array().tolist()


def test_csv_file_and_measurement_files(store: db.Store, ledger: dict[str, dict], tmp_path: Path) -> None:
    out = tmp_path / "results" / "c1.csv"
    out.parent.mkdir()
    result = export_campaign(store, 1, "csv", out)
    assert result.rows == 5 and result.measurements_dir == tmp_path / "results" / "c1_measurements"
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:8] == ["experiment_id", "sample_id", "campaign_id", "decision_index", "policy",
                                 "policy_version", "state", "reason"]
    check_rows(rows, ledger, float)
    check_measurements(result.measurements_dir, ledger)
    assert not [p for p in out.parent.rglob("*.tmp")]  # written atomically: no temporary file left


def test_json_file_is_a_list_of_rows(store: db.Store, ledger: dict[str, dict], tmp_path: Path) -> None:
    out = tmp_path / "c1.json"
    result = export_campaign(store, 1, "JSON", out, measurements=tmp_path / "raw")
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(rows, list) and all(isinstance(r["target_fraction"], float) for r in rows)
    check_rows(rows, ledger, lambda x: x)
    check_measurements(tmp_path / "raw", ledger)
    assert result.measurements_dir == tmp_path / "raw"


def test_parquet_has_proper_dtypes(store: db.Store, ledger: dict[str, dict], tmp_path: Path) -> None:
    out = tmp_path / "c1.parquet"
    export_campaign(store, 1, "parquet", out, with_measurements=False)
    table = pq.read_table(out)
    schema = table.schema
    for name in TIMES:
        assert schema.field(name).type == pa.timestamp("us", tz="UTC")
    for name in ("Ba", "Ti", "temperature_c", "target_fraction", "reward_v1", "reward_v2"):
        assert schema.field(name).type == pa.float64()
    for name in ("experiment_id", "dwell_h", "decision_index", "analysis_version"):
        assert schema.field(name).type == pa.int64()
    assert schema.field("sample_id").type == pa.string()
    assert schema.metadata[b"campaign_id"] == b"1" and schema.metadata[b"reward_version"] == b"v1"
    rows = table.to_pylist()
    for row in rows:  # timestamps come back as aware datetimes
        row.update({k: v.isoformat() for k, v in row.items() if isinstance(v, datetime)})
    check_rows(rows, ledger, lambda x: x)
    assert not (tmp_path / "c1_measurements").exists()


def test_cli_writes_csv_to_standard_output(url: str, ledger: dict[str, dict], tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "1", "--db", url])
    assert result.exit_code == 0, result.output
    check_rows(list(csv.DictReader(io.StringIO(result.stdout))), ledger, float)
    assert not list(tmp_path.iterdir())  # no measurement files without --output or --measurements
    to_file = runner.invoke(app, ["export", "1", "--format", "json", "--output", str(tmp_path / "c1.json"), "--db", url])
    assert to_file.exit_code == 0, to_file.output
    assert "5 experiments" in to_file.output and "15 measurement files" in to_file.output


@pytest.mark.parametrize(("args", "words"), [
    (["--format", "xlsx"], "unknown export format 'xlsx'; choose csv, json or parquet"),
    (["--format", "parquet"], "parquet is binary: give --output"),
    (["--output", "/no/such/folder/c1.csv"], "does not exist"),
])
def test_bad_options_are_one_clear_line(url: str, args: list[str], words: str) -> None:
    result = runner.invoke(app, ["export", "1", *args, "--db", url])
    assert result.exit_code == 2
    assert words in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_campaign_and_formula_compositions(url: str, store: db.Store) -> None:
    result = runner.invoke(app, ["export", "99", "--db", url])
    assert result.exit_code == 2 and "99" in result.output
    with pytest.raises(UsageError, match="parquet is binary"):
        export_campaign(store, 1, "parquet")
    assert composition_amounts("Ba0.5Sr0.5TiO3") == {"Ba": 0.5, "Sr": 0.5, "Ti": 1.0, "O": 3.0}
    assert composition_amounts({"Ba": 0.45, "Ti": 0.55, "Sr": 0.0}) == {"Ba": 0.45, "Ti": 0.55}
