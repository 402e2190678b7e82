"""The report of ``lab bench crash``: the audits' verdict as JSON-able numbers, and rich tables of it.

:func:`audit` reads the ledger and the instruments once the run is over and runs the three audits:
the ledger against the devices (:func:`flows.bench.ledger_check.check`), the jobs power cycles cut
(:func:`flows.bench.power_cuts.account_power_cuts`) and the intent log's double claims
(:func:`flows.bench.double_claims.audit_claims`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from rich.table import Table

import db
from flows.bench.crash_run import CrashRun
from flows.bench.double_claims import audit_claims, read_intents
from flows.bench.ledger_check import check, read_devices
from flows.bench.machine import machine_table
from flows.bench.power_cuts import account_power_cuts

__all__ = ["audit", "render"]


def audit(run: CrashRun, lease_s: float, dialect: str) -> dict[str, Any]:
    """The report's verdict and details: counts by category, campaigns, devices, kills by phase and trigger."""
    ledger, devices = run.snapshot(), read_devices(run.lab.devices)
    result = check(ledger, devices)
    cut_keys = [job.key for dev in run.lab.devices.values() for job in list(getattr(dev, "cut", []))]
    cuts = account_power_cuts(result, ledger, devices, cut_keys)
    claims = audit_claims(run.retry(lambda: read_intents(run.store, run.campaigns)), lease_s)
    infos = run.read(lambda s: [(db.get_campaign(s, cid), db.count_by_state(s, cid)) for cid in run.campaigns])
    statuses = [c.status for c, _ in infos]
    final = statuses[0] if len(set(statuses)) == 1 else ",".join(statuses)
    resent = sum(max(n - 1, 0) for d in devices.values() for n in d.runs.values())
    kills = [e for e in run.log if e["event"] == "kill"]
    phases = Counter(word for e in kills for word in sorted({tag.split()[0].rstrip(":") for tag in e["phase"]}))
    fired = Counter(f"{e['trigger']}{' (fired)' if e['fired'] else ''}" for e in kills)
    issues = [vars(i) for i in result.issues if (i.category, i.kind) != ("lost", "lost_state")]
    issues += [{"category": "lost", "kind": "lost_state", "detail": d} for d in _lost_other(result, cuts.lost_to_cuts)]
    issues += [vars(i) for i in cuts.unaccounted]
    issues += [{"category": "double_claim", "kind": "double_claim", "detail": c.text()} for c in claims.double_claims]
    lost = result.count("lost", "unfinished") + cuts.lost_other
    inconsistent = result.inconsistent + len(cuts.unaccounted)
    finals = [e for e in run.log if e["event"] == "final"]
    ok = lost == result.duplicated == inconsistent == len(claims.double_claims) == 0 and final == "completed" \
        and bool(finals) and all(e["rc"] == 0 for e in finals)
    return {"lost": lost, "lost_unfinished": result.count("lost", "unfinished"), "lost_state": cuts.lost_other,
            "duplicated": result.duplicated, "inconsistent": inconsistent, "double_claims": len(claims.double_claims),
            "handovers": len(claims.handovers), "lost_to_power_cuts": len(cuts.lost_to_cuts), "power_cuts": cuts.to_dict(),
            "claims": claims.to_dict(), "database": dialect, "final_status": final,
            "campaigns": [{"id": c.id, "status": c.status, "experiments": {k: v for k, v in n.items() if v},
                           "workers": claims.workers_by_campaign.get(c.id, [])} for c, n in infos],
            "experiments": sum(sum(n.values()) for _, n in infos),
            "device_starts": {name: d.starts for name, d in devices.items()},
            "resends_absorbed": resent, "kill_phases": dict(phases), "kill_triggers": dict(fired),
            "startup_s": {"median": round(statistics.median(run.startups), 2) if run.startups else None,
                          "max": round(max(run.startups), 2) if run.startups else None, "measured": len(run.startups)},
            "issues": issues, "ok": ok, "kill_log": run.log}


def _lost_other(result: Any, explained: list[str]) -> list[str]:
    """Details of the ``lost_state`` issues no power cut explains (the explained ones start with their sample id)."""
    samples = {line.split(":")[0] for line in explained}
    return [i.detail for i in result.issues if (i.category, i.kind) == ("lost", "lost_state")
            and i.detail.split(" ")[0] not in samples]


def render(report: dict[str, Any]) -> list[Table]:
    """Rich tables of a crash report: the verdict, the disruptions, the workers, the issues found, the machine."""
    head = Table(title=f"Crash bench on {report['database']}: {report['workers']} worker(s), seed {report['seed']}, "
                       f"{report['speed']:g}x, lease {report['lease_s']:g} s, policy {report['policy']}")
    for col, justify in (("measure", "left"), ("value", "right"), ("target", "right")):
        head.add_column(col, justify=justify)  # type: ignore[arg-type]
    asked, delivered = report["disruptions"]["asked"], report["disruptions"]["delivered"]
    cuts = report["power_cuts"]
    rows = [("kills (SIGKILL)", report["kills"], f">= {report['kills_asked']}"),
            ("lab power cycles", delivered["lab_power_cycle"], asked["lab_power_cycle"]),
            ("database drops (every connection terminated)", delivered["db_drop"], asked["db_drop"]),
            ("PostgreSQL restarts", delivered["pg_restart"], asked["pg_restart"]),
            ("lost", report["lost"], 0), ("  unfinished at the end", report["lost_unfinished"], 0),
            ("  in state lost, no power cut to explain it", report["lost_state"], 0),
            ("duplicated", report["duplicated"], 0), ("inconsistent", report["inconsistent"], 0),
            ("double claims", report["double_claims"], 0),
            ("handovers after a lapsed lease", report["handovers"], ""),
            ("jobs cut by power cycles", cuts["jobs_cut"], ""),
            ("  lost with a reason (accounted)", report["lost_to_power_cuts"], ""),
            ("  sent again (cut before their ack)", cuts["resent_after_cut"], ""),
            ("final status", report["final_status"], "completed"), ("experiments", report["experiments"], ""),
            ("resends absorbed by idempotency keys", report["resends_absorbed"], ""),
            ("worker failures (exit status not 0)", report["worker_failures"], 0),
            ("kills by phase", _counts(report["kill_phases"]), ""), ("kills by trigger", _counts(report["kill_triggers"]), ""),
            ("wall time (s)", report["wall_s"], "")]
    for name, value, target in rows:
        head.add_row(name, str(value), str(target))
    tables = [head]
    if report["disruptions"]["log"]:
        disrupted = Table(title="Disruptions")
        for col in ("#", "kind", "at s", "after kills", "sim time", "detail"):
            disrupted.add_column(col)
        for e in report["disruptions"]["log"]:
            disrupted.add_row(str(e["n"]), e["kind"], f"{e['at_s']:.1f}", str(e["kills_before"]), e["sim_time"],
                              str(e["detail"]))
        tables.append(disrupted)
    tables.append(_workers_table(report))
    if report["issues"]:
        found = Table(title="Issues found")
        for col in ("category", "kind", "detail"):
            found.add_column(col)
        for issue in report["issues"]:
            found.add_row(issue["category"], issue["kind"], issue["detail"])
        tables.append(found)
    machine = machine_table(report["machine"])
    return tables + [machine]


def _workers_table(report: dict[str, Any]) -> Table:
    kills = Table(title=f"Workers (start-up median {report['startup_s']['median']} s, max {report['startup_s']['max']} s)")
    for col in ("#", "worker", "event", "at s", "start s", "phase", "experiments", "steps"):
        kills.add_column(col, justify="left" if col in ("worker", "phase", "experiments", "steps") else "right")
    for e in report["kill_log"]:
        event = e["event"] if e["event"] == "kill" else f"{e['event']} rc={e['rc']}"
        kills.add_row(str(e["n"]), str(e.get("worker", "")).removeprefix("crash-bench-"), event, f"{e['at_s']:.2f}",
                      "-" if e["startup_s"] is None else f"{e['startup_s']:.2f}", "; ".join(e["phase"]),
                      _counts(e["experiments"]), _counts(e["steps"]))
    return kills


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items() if v)
