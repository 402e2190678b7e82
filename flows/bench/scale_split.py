"""The split model of ``lab bench scale``: one lab file per worker, each holding a share of every kind.

With ``model = "split"`` each worker is an instrument host (:mod:`flows.campaign.hosting`): its lab
file names only its share of the served lab's instruments, and the steps of every campaign run on
whichever worker holds their instrument. :func:`split_lab_files` deals the instruments out in
turn, kind by kind (dosing stations, furnaces, diffractometers, spectrometers), continuing the turn
across kinds so that the shares differ by at most one instrument; every file keeps the served
lab's ``[clock]`` table, so all workers read the same accelerated clock.

Double claims are then judged per host (:func:`audit_by_host`): several workers acting on one
campaign at once is the design (each on its own instruments), so the intents are audited
(:func:`flows.bench.double_claims.audit_claims`) separately for the instruments of each share,
where only the holder may send; ``foreign_intents`` counts intents a worker committed on an
instrument outside its share (0 when each host keeps to its own).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import db
from flows.bench.double_claims import audit_claims
from flows.errors import FlowError

__all__ = ["audit_by_host", "split_lab_files"]

_KIND_ORDER = ("dosing", "furnace", "xrd", "uvvis")


def split_lab_files(lab_file: Path, shares: int, folder: Path) -> tuple[list[Path], dict[str, int]]:
    """Write ``shares`` lab files (``lab-1.toml``...) into ``folder`` from the served lab's ``lab_file``.

    Returns:
        The files, and each instrument's share (0-based).

    Raises:
        FlowError: fewer instruments than shares (a worker would hold none).
    """
    data = tomllib.loads(lab_file.read_text(encoding="utf-8"))
    entries = sorted(data.get("instrument", []), key=lambda e: _KIND_ORDER.index(e["kind"])
                     if e["kind"] in _KIND_ORDER else len(_KIND_ORDER))
    if len(entries) < shares:
        raise FlowError(f"{shares} workers cannot each hold a share of {len(entries)} instruments")
    share_of = {e["name"]: i % shares for i, e in enumerate(entries)}
    clock = data["clock"]
    files = []
    for k in range(shares):
        lines = ["# one host's share of the scale bench's served lab", "[clock]",
                 *(f"{key} = {json.dumps(value)}" for key, value in clock.items()), ""]
        for e in entries:
            if share_of[e["name"]] == k:
                lines += ["[[instrument]]", *(f"{key} = {json.dumps(e[key])}" for key in ("name", "kind", "port")), ""]
        path = folder / f"lab-{k + 1}.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    return files, share_of


def audit_by_host(intents: Sequence[db.StepIntentInfo], share_of: dict[str, int], holders: Sequence[str],
                  lease_s: float) -> dict[str, Any]:
    """Double claims per share of instruments, and intents sent outside a worker's share (module docstring).

    Args:
        intents: the run's intent log.
        share_of: instrument name -> share index.
        holders: the worker name holding each share, by index.
        lease_s: the workers' lease (wall-clock seconds).
    """
    by_share: dict[int, list[db.StepIntentInfo]] = {}
    foreign = 0
    for intent in intents:
        share = share_of.get(intent.instrument or "", -1)
        by_share.setdefault(share, []).append(intent)
        foreign += int(share < 0 or intent.worker != holders[share])
    audits = {share: audit_claims(group, lease_s).to_dict() for share, group in sorted(by_share.items())}
    return {"lease_s": lease_s, "threshold_s": lease_s / 2, "intents": len(intents),
            "double_claims": sum(a["double_claims"] for a in audits.values()),
            "handovers": sum(a["handovers"] for a in audits.values()),
            "double_claim_details": [line for a in audits.values() for line in a["double_claim_details"]],
            "foreign_intents": foreign,
            "by_share": {str(share): {k: a[k] for k in ("intents", "double_claims", "handovers")}
                         for share, a in audits.items()}}
