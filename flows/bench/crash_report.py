"""The report of ``lab bench crash``: the audit's verdict as JSON-able numbers, and rich tables of it."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from rich.table import Table

import db
from flows.bench.crash_run import CrashRun
from flows.bench.ledger_check import CheckResult, read_devices

__all__ = ["render", "summarise"]


def summarise(run: CrashRun, result: CheckResult, dialect: str) -> dict[str, Any]:
    """The report's verdict and details: counts by category, campaigns, devices, kills by phase and trigger."""
    with run.store.session() as s:
        infos = [db.get_campaign(s, cid) for cid in run.campaigns]
        counts = [db.count_by_state(s, cid) for cid in run.campaigns]
    statuses = [c.status for c in infos]
    final = statuses[0] if len(set(statuses)) == 1 else ",".join(statuses)
    devices = read_devices(run.lab.devices)
    starts = {name: d.starts for name, d in devices.items()}
    resent = sum(max(n - 1, 0) for d in devices.values() for n in d.runs.values())
    kills = [e for e in run.log if e["event"] == "kill"]
    phases = Counter(word for e in kills for word in sorted({tag.split()[0].rstrip(":") for tag in e["phase"]}))
    fired = Counter(f"{e['trigger']}{' (fired)' if e['fired'] else ''}" for e in kills)
    ok = result.lost == result.duplicated == result.inconsistent == 0 and final == "completed"
    return {"lost": result.lost, "lost_unfinished": result.count("lost", "unfinished"),
            "lost_state": result.count("lost", "lost_state"), "duplicated": result.duplicated,
            "inconsistent": result.inconsistent, "database": dialect, "final_status": final,
            "campaigns": [{"id": c.id, "status": c.status, "experiments": {k: v for k, v in n.items() if v}}
                          for c, n in zip(infos, counts)],
            "experiments": sum(sum(n.values()) for n in counts), "device_starts": starts,
            "resends_absorbed": resent, "kill_phases": dict(phases), "kill_triggers": dict(fired),
            "startup_s": {"median": round(statistics.median(run.startups), 2) if run.startups else None,
                          "max": round(max(run.startups), 2) if run.startups else None, "measured": len(run.startups)},
            "issues": [vars(i) for i in result.issues], "ok": ok and run.log[-1]["rc"] == 0,
            "kill_log": run.log}


def render(report: dict[str, Any]) -> list[Table]:
    """Rich tables of a crash report: the verdict, the kills, the issues found, the machine."""
    head = Table(title=f"Crash bench on {report['database']}: seed {report['seed']}, {report['speed']:g}x, "
                       f"policy {report['policy']}")
    head.add_column("measure")
    head.add_column("value", justify="right")
    head.add_column("target", justify="right")
    rows = [("kills (SIGKILL)", report["kills"], f">= {report['kills_asked']}"), ("lost", report["lost"], 0),
            ("  unfinished at the end", report["lost_unfinished"], 0), ("  in state lost", report["lost_state"], 0),
            ("duplicated", report["duplicated"], 0), ("inconsistent", report["inconsistent"], 0),
            ("final status", report["final_status"], "completed"), ("experiments", report["experiments"], ""),
            ("resends absorbed by idempotency keys", report["resends_absorbed"], ""),
            ("worker failures (exit status not 0)", report["worker_failures"], 0),
            ("kills by phase", _counts(report["kill_phases"]), ""), ("kills by trigger", _counts(report["kill_triggers"]), ""),
            ("wall time (s)", report["wall_s"], "")]
    for name, value, target in rows:
        head.add_row(name, str(value), str(target))
    kills = Table(title=f"Workers (start-up median {report['startup_s']['median']} s, max {report['startup_s']['max']} s)")
    for col in ("#", "event", "at s", "start s", "phase", "experiments", "steps"):
        kills.add_column(col, justify="left" if col in ("phase", "experiments", "steps") else "right")
    for e in report["kill_log"]:
        event = e["event"] if e["event"] == "kill" else f"{e['event']} rc={e['rc']}"
        kills.add_row(str(e["n"]), event, f"{e['at_s']:.2f}", "-" if e["startup_s"] is None else f"{e['startup_s']:.2f}",
                      "; ".join(e["phase"]), _counts(e["experiments"]), _counts(e["steps"]))
    tables = [head, kills]
    if report["issues"]:
        found = Table(title="Issues found")
        for col in ("category", "kind", "detail"):
            found.add_column(col)
        for issue in report["issues"]:
            found.add_row(issue["category"], issue["kind"], issue["detail"])
        tables.append(found)
    machine = Table(title="Machine")
    machine.add_column("key")
    machine.add_column("value")
    for key, value in report["machine"].items():
        machine.add_row(key, str(value))
    return tables + [machine]


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items() if v)
