"""One campaign across two instrument hosts, with one host killed and restarted mid-campaign.

Real parts throughout: the simulated lab served on loopback sockets (as ``lab simulate`` serves
it) and split into two lab files sharing its accelerated clock, host A holding the dosing station
and the diffractometer and host B the furnaces; a real Prefect server on loopback; a private
PostgreSQL database; two ``lab worker`` processes (``--pool instruments``). The campaign is queued
with ``lab queue --lab-file`` naming every instrument. Host B is killed (SIGKILL) while its first
anneal is in flight and restarted under the same name; the campaign must complete, and the ledger
audit of ``lab bench crash`` (:mod:`flows.bench.ledger_check`) must find nothing lost, nothing
duplicated and nothing inconsistent, with every step sent once by the host holding its instrument.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import db
from flows.bench.crash_procs import WorkerProcess, prefect_api, scratch_database
from flows.bench.ledger_check import check, read_devices, read_ledger
from flows.campaign.runtime import served_simulated_lab
from lab.spec import example_path

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
#: Simulated seconds per real second of the served lab: an anneal of about 4 h takes some 35 s, and a
#: step's shortest grace after its expected end (1 h) is 9 s, time enough for a loaded machine.
SPEED = 400.0
#: One batch: every anneal in flight at once on the four furnaces.
EXPERIMENTS = 4
HOSTS = {"host-a": ("dosing", "xrd"), "host-b": ("furnace",)}


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 150.0) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def split_lab_file(full: Path, folder: Path) -> dict[str, Path]:
    """One lab file per host: the full file's ``[clock]`` table and that host's instruments."""
    text = full.read_text(encoding="utf-8")
    head = text[: text.index("[[instrument]]")]
    entries = tomllib.loads(text)["instrument"]
    files: dict[str, Path] = {}
    for host, kinds in HOSTS.items():
        lines = [head]
        for e in (e for e in entries if e["kind"] in kinds):
            lines += ["[[instrument]]", f'name = "{e["name"]}"', f'kind = "{e["kind"]}"', f'port = "{e["port"]}"', ""]
        files[host] = folder / f"{host}.toml"
        files[host].write_text("\n".join(lines), encoding="utf-8")
    return files


def spec_file(folder: Path) -> Path:
    """The shipped BaTiO3 spec, small: four experiments, short anneals (700-800 °C, 10 °C/min, 30-60 min), sobol."""
    src = example_path("batio3").read_text(encoding="utf-8")
    src = re.sub(r"experiments = \d+", f"experiments = {EXPERIMENTS}", src, count=1)
    src = re.sub(r"hours = \d+", "hours = 100000", src, count=1)
    src = re.sub(r'name = "dwell_h"\ntype = "integer"\nlow = 1\nhigh = \d+',
                 'name = "dwell_h"\ntype = "continuous"\nlow = 0.5\nhigh = 1.0', src, count=1)
    src = re.sub(r'(name = "temperature_c"\ntype = "continuous"\nlow = 700.0\nhigh = )[\d.]+', r"\g<1>800.0", src, count=1)
    src = src.replace("ramp_c_per_min = 5.0", "ramp_c_per_min = 10.0")
    src = re.sub(r'\[policy\]\n(#[^\n]*\n)*name = "rl"', '[policy]\nname = "sobol"', src)
    path = folder / "spec.toml"
    path.write_text(src, encoding="utf-8")
    return path


@pytest.fixture
def pg(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A private PostgreSQL database on the test server (created here, dropped at the end)."""
    with scratch_database(postgres_url, tmp_path) as url:
        yield url


def campaign(store: db.Store, cid: int) -> db.CampaignInfo:
    with store.session() as s:
        return db.get_campaign(s, cid)


def history(store: db.Store, cid: int) -> str:
    """The campaign's events and steps, for a failure's message."""
    with store.session() as s:
        lines = [f"{e.at:%d %H:%M:%S} {e.kind}: {e.message}" for e in db.list_events(s, cid)]
    lines += [f"{st.idempotency_key} {st.state} on {st.instrument} by {st.claimed_by}: intent {st.intent_at:%d %H:%M:%S}, "
              f"due {st.expected_done_at:%H:%M:%S}, deadline {st.deadline:%H:%M:%S}, attempts {st.attempts} {st.error or ''}"
              for st in steps_of(store, cid) if st.intent_at is not None and st.expected_done_at and st.deadline]
    return "\n".join(lines) + "\n"


def steps_of(store: db.Store, cid: int) -> list[db.StepInfo]:
    with store.session() as s:
        return db.step_history(s, cid)


def test_a_campaign_runs_across_two_hosts_and_survives_one_killed_mid_anneal(pg: str, tmp_path: Path) -> None:
    full = tmp_path / "lab.toml"
    procs: list[WorkerProcess] = []
    with served_simulated_lab(full, speed=SPEED) as lab, prefect_api(None, tmp_path) as api:
        files = split_lab_file(full, tmp_path)
        names = {host: {e["name"] for e in tomllib.loads(f.read_text(encoding="utf-8"))["instrument"]}
                 for host, f in files.items()}

        def start(host: str) -> WorkerProcess:
            proc = WorkerProcess(files[host], pg, tmp_path, api, tmp_path / f"{host}-{len(procs)}.log", name=host,
                                 once=False, lease_s=300.0, pool="instruments")
            procs.append(proc)
            return proc

        def logs() -> str:
            return "\n".join(f"--- {p.log_path.name}\n{p.log_path.read_text(errors='replace')[-3000:]}" for p in procs)

        try:
            env = {**os.environ, "LAB_HOME": str(tmp_path), "PREFECT_API_URL": api, "PYTHONPATH": str(ROOT)}
            env.pop("LAB_DATABASE_URL", None)
            host_a = start("host-a")
            queued = subprocess.run([sys.executable, "-m", "flows.cli.app", "queue", str(spec_file(tmp_path)),
                                     "--lab-file", str(full), "--db", pg], env=env, cwd=str(tmp_path),
                                    capture_output=True, text=True, timeout=120)
            assert queued.returncode == 0, queued.stdout + queued.stderr
            cid = int(queued.stdout.split()[-1])
            store = db.open_store(pg)
            wait_for("host A to claim the campaign", lambda: campaign(store, cid).claimed_by == "host-a")
            host_b = start("host-b")

            def anneal_in_flight() -> db.StepInfo | None:
                return next((st for st in steps_of(store, cid) if st.instrument_kind == "furnace"
                             and st.state == "acked" and st.claimed_by == "host-b"), None)

            wait_for("host B's first anneal in flight", lambda: anneal_in_flight() is not None)
            host_b.kill()
            held = anneal_in_flight()
            assert held is not None
            time.sleep(2.0)  # host A goes on, but nobody else touches host B's furnaces
            with store.session() as s:
                assert db.get_step(s, held.id).state == "acked", "a step in flight waits for its instrument's host"
            start("host-b")
            wait_for("the campaign to complete", lambda: campaign(store, cid).status == "completed", 180.0)
            with store.session() as s:
                counts = {k: n for k, n in db.count_by_state(s, cid).items() if n}
                intents = db.list_intents(s, [cid])
            assert counts == {"rewarded": EXPERIMENTS}, history(store, cid) + logs()
            devices = read_devices(lab.devices)
            audit = check(read_ledger(store, [cid]), devices)
            assert audit.issues == [], audit.issues
            steps = steps_of(store, cid)
            assert all(st.state == "done" for st in steps) and len(steps) == 3 * EXPERIMENTS
            assert sum(d.starts for d in devices.values()) == len(steps), "each job started once"
            by_step: dict[int, list[db.StepIntentInfo]] = {}
            for intent in intents:
                owner = next(h for h, held_names in names.items() if intent.instrument in held_names)
                assert intent.worker == owner, f"{intent.idempotency_key} sent by {intent.worker}, held by {owner}"
                by_step.setdefault(intent.step_id, []).append(intent)
            for st in steps:
                sent = by_step[st.id]
                assert len(sent) == st.attempts and {i.instrument for i in sent} == {st.instrument}
                assert len(sent) == 1 or st.acked_at is not None and all(i.at <= st.acked_at for i in sent), \
                    f"{st.idempotency_key} sent {len(sent)} times"
            assert any(st.instrument_kind == "furnace" and st.id == held.id for st in steps)
            assert {i.worker for i in intents} == {"host-a", "host-b"}
            with store.session() as s:  # host A decided throughout; host B only ran the furnaces' steps
                claims = [e.detail["worker"] for e in db.list_events(s, cid) if e.kind == "campaign_claimed"]
            assert claims == ["host-a"]
            assert host_a.poll() is None and "Traceback" not in logs(), logs()
            store.dispose()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
