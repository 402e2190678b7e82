"""Account for the jobs a lab power cycle cut (``lab bench crash --lab-kills``).

A power cycle makes each instrument forget the job it was running (:mod:`flows.bench.crash_disrupt`).
Such a job can only end one of two ways in a sound ledger:

* its step was acknowledged: the experiment is **lost with a reason** (the device has no record of
  a job it had acknowledged), counted apart as *lost to power cuts*, not as a loss of the
  controller's making;
* its step was never acknowledged (the worker died, or the cut came, between intent and ack): the
  step is sent again, and the device holds the key again (or the step is still in flight, or was
  released to ``planned`` or failed with a reason).

Anything else is an **unaccounted cut** (category ``inconsistent``): a cut key that is no step of
the ledger, a lost step or experiment without a reason, a step done or in flight whose instrument
does not hold the key again. Every other lost experiment stays a loss (target 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flows.bench.ledger_check import CheckResult, DeviceRecord, Issue, LedgerSnapshot
from lab.experiment import ExperimentState

__all__ = ["PowerCutAudit", "account_power_cuts"]


@dataclass
class PowerCutAudit:
    """What became of the jobs power cycles cut.

    Attributes:
        cut: keys of the jobs cut, in order.
        lost_to_cuts: one line per experiment lost, with its reason, because a cut took its job.
        resent: keys cut before their ack and sent again.
        unaccounted: inconsistencies (see the module docstring).
        lost_other: lost experiments not explained by a cut (``lost_state`` issues left over).
    """

    cut: list[str] = field(default_factory=list)
    lost_to_cuts: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    unaccounted: list[Issue] = field(default_factory=list)
    lost_other: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"jobs_cut": len(self.cut), "lost_to_power_cuts": len(self.lost_to_cuts), "resent_after_cut": len(self.resent),
                "unaccounted_cuts": len(self.unaccounted), "cut_keys": self.cut, "lost_to_power_cut_details": self.lost_to_cuts}


def account_power_cuts(result: CheckResult, ledger: LedgerSnapshot, devices: Mapping[str, DeviceRecord],
                       cut_keys: Iterable[str]) -> PowerCutAudit:
    """Sort the cut jobs and the lost experiments of ``result`` (see the module docstring)."""
    audit = PowerCutAudit(cut=list(cut_keys))
    steps = {st.idempotency_key: (st, exp) for exp in ledger.experiments for st in ledger.steps.get(exp.id, [])}
    explained: set[int] = set()
    for key in dict.fromkeys(audit.cut):
        found = steps.get(key)
        if found is None:
            audit.unaccounted.append(Issue("inconsistent", "cut_unrecorded", f"a power cycle cut {key}, no step of the ledger"))
            continue
        st, exp = found
        if st.state == "lost":
            if exp.state is ExperimentState.LOST and exp.reason and st.error:
                explained.add(exp.id)
                audit.lost_to_cuts.append(f"{exp.sample_id}: {exp.reason}")
            else:
                audit.unaccounted.append(Issue("inconsistent", "cut_lost_without_reason",
                                               f"{key} lost after a power cut, but {exp.sample_id} is {exp.state.value} "
                                               f"(reason {exp.reason!r}, step error {st.error!r})"))
        elif st.state in ("done", "acked", "intent"):
            holder = devices.get(st.instrument or "")
            if st.state != "intent" and (holder is None or key not in holder.jobs):
                audit.unaccounted.append(Issue("inconsistent", "cut_not_rerun", f"{key} is {st.state} on {st.instrument} "
                                               "after a power cut, but the device does not hold it again"))
            else:
                audit.resent.append(key)
        elif st.state == "failed" and not st.error:
            audit.unaccounted.append(Issue("inconsistent", "cut_failed_without_reason", f"{key} failed without a reason"))
    lost_ids = {exp.id for exp in ledger.experiments if exp.state is ExperimentState.LOST}
    audit.lost_other = result.count("lost", "lost_state") - len(lost_ids & explained)
    return audit
