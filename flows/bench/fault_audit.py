"""The audit of ``lab bench faults``: what became of every injected fault and every experiment.

Read from the ledger after the run (:func:`flows.bench.ledger_check.read_ledger`), beside the
simulators' own job records and fault logs, and nothing else:

* **recovered** (per fault class): the fault names a job key (the key in the command line it hit,
  the last key that instrument saw for a line without one, the job a restart cut) whose ledger
  step ended ``done``: the controller got past it (a retry, a resynchronisation, a resend). Also
  the faults on a lost step other than its cause (below): the loss was recorded after a good
  exchange about that key, so the controller got past them too.
* **accounted** (per fault class): the key's step was given up (its experiment ended ``lost``,
  with the reason the ledger recorded) and the fault is its cause: the restart that cut the job,
  else the stuck job, else (neither on it) every fault on the step. A lost experiment with no
  fault to blame is listed with an empty ``cause``.
* **silent drops**, target 0: an experiment not in a terminal state at the end; a failed, lost or
  cancelled experiment without a reason; a step ``done`` without its measurement; an injected
  fault that names no step of the ledger or whose step is neither done nor given up (a fault
  neither recovered nor accounted to a failed or lost experiment).
* **duplicated** and **inconsistent**, target 0: :func:`flows.bench.ledger_check.check`'s
  categories (a job started twice, a key on two instruments, state and steps that disagree...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import db
from flows.bench.ledger_check import MEASUREMENT_OF, DeviceRecord, LedgerSnapshot, check
from flows.campaign.fault_settings import FAULT_CLASSES, InjectedFault
from lab.experiment import ExperimentState

__all__ = ["FaultAudit", "audit"]

S = ExperimentState
_GIVEN_UP = (S.LOST, S.FAILED)


@dataclass
class FaultAudit:
    """The audit's findings (all JSON-able through :meth:`report`).

    Attributes:
        injected: faults injected per class, from the simulators' injectors.
        recovered: per class, faults whose step ended done.
        accounted: per class, faults whose experiment ended lost or failed.
        failed: chemistry failures: sample, reason.
        lost: lost experiments: sample, reason, ``cause`` (the fault classes accounted to it) and
            ``faults`` (every fault class on its given-up step, by count).
        silent: silent drops: kind and detail.
        duplicated: :func:`~flows.bench.ledger_check.check`'s duplicated count.
        inconsistent: its inconsistent count.
        issues: its issues (other than the expected losses), as dicts.
    """

    injected: dict[str, int]
    recovered: dict[str, int] = field(default_factory=dict)
    accounted: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    silent: list[dict[str, str]] = field(default_factory=list)
    duplicated: int = 0
    inconsistent: int = 0
    issues: list[dict[str, str]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """The report's keys: injected, recovered, accounted, failed, lost, silent_drops (and details)."""
        return {"injected": self.injected, "recovered": self.recovered, "accounted": self.accounted,
                "unaccounted": {k: self.injected[k] - self.recovered[k] - self.accounted[k] for k in FAULT_CLASSES},
                "failed": self.failed, "lost": self.lost, "silent_drops": len(self.silent),
                "silent_drop_details": self.silent, "duplicated": self.duplicated, "inconsistent": self.inconsistent,
                "issues": self.issues}


def audit(ledger: LedgerSnapshot, devices: Mapping[str, DeviceRecord], faults: Sequence[InjectedFault],
          injected: Mapping[str, int]) -> FaultAudit:
    """Audit one run: ``ledger`` and ``devices`` as read after it, ``faults`` as the simulators logged them.

    Args:
        ledger: the campaign's ledger snapshot.
        devices: the simulators' job records.
        faults: every injected fault, with its key.
        injected: faults per class, as the injectors counted them (the log must agree).
    """
    result = AuditBuilder(ledger, dict(injected))
    result.experiments()
    result.faults(faults)
    found = check(ledger, devices)
    result.out.duplicated, result.out.inconsistent = found.duplicated, found.inconsistent
    result.out.issues = [vars(i) for i in found.issues if i.category != "lost"]
    return result.out


class AuditBuilder:
    """Fills a :class:`FaultAudit` from one ledger snapshot."""

    def __init__(self, ledger: LedgerSnapshot, injected: dict[str, int]) -> None:
        self.ledger = ledger
        self.out = FaultAudit({k: injected.get(k, 0) for k in FAULT_CLASSES},
                              {k: 0 for k in FAULT_CLASSES}, {k: 0 for k in FAULT_CLASSES})
        self.by_key: dict[str, tuple[db.StepInfo, db.ExperimentInfo]] = {
            st.idempotency_key: (st, exp) for exp in ledger.experiments for st in ledger.steps.get(exp.id, [])}

    def silent(self, kind: str, detail: str) -> None:
        self.out.silent.append({"kind": kind, "detail": detail})

    def experiments(self) -> None:
        """Every experiment terminal with a reason, every done step with its measurement."""
        for exp in self.ledger.experiments:
            who = f"{exp.sample_id} ({exp.state.value})"
            if not exp.state.terminal:
                self.silent("unfinished", f"{who}: not in a terminal state at the end")
            elif exp.state in (*_GIVEN_UP, S.CANCELLED) and not (exp.reason or "").strip():
                self.silent("no_reason", f"{who}: ended without a recorded reason")
            names = set(self.ledger.measurements.get(exp.id, []))
            for st in self.ledger.steps.get(exp.id, []):
                wanted = MEASUREMENT_OF.get(st.instrument_kind)
                if st.state == "done" and wanted is not None and wanted not in names:
                    self.silent("done_without_measurement", f"{who}: step {st.idempotency_key} done, no {wanted} stored")

    def faults(self, faults: Sequence[InjectedFault]) -> None:
        """Recovered or accounted, for each fault; the rest are silent drops. Then the failed and lost lists."""
        logged = Counter(f.kind for f in faults)
        for kind in FAULT_CLASSES:
            if logged.get(kind, 0) != self.out.injected[kind]:
                self.silent("fault_log", f"{kind}: the injectors counted {self.out.injected[kind]}, logged {logged.get(kind, 0)}")
        on_step: dict[str, list[InjectedFault]] = {}
        for f in faults:
            hit = self.by_key.get(f.key or "")
            if hit is None:
                self.silent("unaccounted_fault", f"{_what(f)} ({f.line!r}) names no step of the ledger (key {f.key!r})")
                continue
            step, exp = hit
            if step.state == "done":
                self.out.recovered[f.kind] += 1
            elif exp.state in _GIVEN_UP and step.state in ("lost", "failed"):
                on_step.setdefault(step.idempotency_key, []).append(f)
            else:
                self.silent("unaccounted_fault", f"{_what(f)} hit {f.key}, which ended {step.state} "
                                                 f"in an experiment {exp.state.value}")
        causes = {key: self._blame(self.by_key[key][0], hits) for key, hits in on_step.items()}
        for exp in self.ledger.experiments:
            blamed = [(f.kind, c) for st in self.ledger.steps.get(exp.id, []) for f, c in causes.get(st.idempotency_key, [])]
            entry = {"sample": exp.sample_id, "reason": exp.reason or "",
                     "cause": sorted({k for k, c in blamed if c}), "faults": dict(Counter(k for k, _ in blamed))}
            if exp.state is S.FAILED:
                self.out.failed.append(entry)
            elif exp.state is S.LOST:
                self.out.lost.append(entry)

    def _blame(self, step: db.StepInfo, hits: list[InjectedFault]) -> list[tuple[InjectedFault, bool]]:
        """Which faults on a given-up ``step`` lost it (accounted) and which the controller got past (recovered).

        The cause is a restart that cut the job, else a stuck job, before the loss was recorded;
        the loss was recorded after a good exchange about this key (the poll that found it unknown
        or past its deadline, the abort and the release), so every other fault on it was got past.
        Without either, every fault on it is accounted to the loss.
        """
        before = [f for f in hits if f.at is None or step.failed_at is None or f.at <= step.failed_at]
        cause = [f for f in before if f.kind == "restart" and f.cut] or [f for f in before if f.kind == "stuck"] or hits
        out = []
        for f in hits:
            blamed = f in cause
            (self.out.accounted if blamed else self.out.recovered)[f.kind] += 1
            out.append((f, blamed))
        return out


def _what(f: InjectedFault) -> str:
    return f"{f.kind} on {f.instrument}" + (f" at {f.at:%m-%d %H:%M:%S}" if f.at else "")
