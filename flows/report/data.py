"""One campaign read from the store into frozen values: everything the HTML report shows.

:func:`load_report` opens one session, reads the campaign, its experiments (with their latest
analysis and their reward under every reward version), decisions, steps, events and the stored XRD
patterns of the best samples, and returns a :class:`ReportData`. Nothing here draws or formats;
:mod:`flows.report.series` derives the plotted series, :mod:`flows.report.figures` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

import db
from lab.experiment import ExperimentState
from lab.reward import RewardDefinition
from lab.state import OutcomeConstraint

__all__ = ["BEST_PATTERNS", "ExperimentRow", "ReportData", "RewardVersion", "XrdFit", "load_report"]

S = ExperimentState
#: How many of the best samples' XRD patterns the report draws.
BEST_PATTERNS = 3
#: States whose experiments have a usable result (objectives and a reward).
RESULT_STATES = (S.MEASURED.value, S.REWARDED.value)


@dataclass(frozen=True)
class ExperimentRow:
    """One experiment as the report sees it.

    Attributes:
        number: 1, 2, 3... in proposal order within the campaign.
        state: the experiment state's value (``rewarded``, ``lost``...).
        proposed_at: when its decision was made (UTC).
        result_at: when its result arrived (rewarded, else measured, else failed; ``None``: none yet or lost).
        reward: its reward under the active reward version (``None``: not rewarded).
        objectives: objective values of its latest analysis (empty: never analysed).
    """

    id: int
    number: int
    sample_id: str
    state: str
    params: dict[str, Any]
    decision_index: int
    policy: str
    policy_version: str
    proposed_at: datetime
    result_at: datetime | None
    reward: float | None
    objectives: dict[str, float]
    reason: str | None

    @property
    def has_result(self) -> bool:
        """Whether it was measured (its objectives are a real result, not a failed fit)."""
        return self.state in RESULT_STATES


@dataclass(frozen=True)
class RewardVersion:
    """A reward definition of the campaign and every reward stored under it.

    Attributes:
        values: experiment id -> reward under this version.
    """

    definition: RewardDefinition
    active: bool
    values: dict[int, float]


@dataclass(frozen=True)
class XrdFit:
    """A stored XRD pattern and the phases its latest analysis fitted.

    Attributes:
        two_theta: angles (degrees 2-theta), as measured.
        counts: detector counts on ``two_theta``.
        fractions: fitted phase weight fractions (sum 1, or all 0 when no phase was found).
        crystallite_nm: apparent crystallite size of the fit (nm), ``None`` when no phase was found.
        residual: the fit's weighted profile R-factor (dimensionless).
    """

    experiment_id: int
    sample_id: str
    reward: float
    two_theta: np.ndarray
    counts: np.ndarray
    fractions: dict[str, float]
    crystallite_nm: float | None
    residual: float


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows of one campaign, read in one session.

    Attributes:
        objectives: ``(name, "maximize" | "minimize")`` of each objective the spec declares.
        constraints: the spec's outcome constraints (``[[constraints]]``; feasible when every one holds).
        start: the campaign's time zero (its start, or creation, or first decision if earlier; UTC).
        end: when it finished, or the latest time the ledger records.
    """

    campaign: db.CampaignInfo
    objectives: tuple[tuple[str, str], ...]
    constraints: tuple[OutcomeConstraint, ...]
    counts: dict[str, int]
    experiments: tuple[ExperimentRow, ...]
    decisions: tuple[db.DecisionInfo, ...]
    steps: tuple[db.StepInfo, ...]
    events: tuple[db.EventInfo, ...]
    rewards: tuple[RewardVersion, ...]
    patterns: tuple[XrdFit, ...]
    start: datetime
    end: datetime

    def hours(self, at: datetime) -> float:
        """``at`` in hours since :attr:`start`."""
        return (at - self.start).total_seconds() / 3600.0


def load_report(store: db.Store, campaign_id: int) -> ReportData:
    """Read campaign ``campaign_id`` for its report.

    Raises:
        CampaignNotFound: no campaign has this id.
    """
    with store.session() as s:
        info = db.get_campaign(s, campaign_id)
        definitions = db.list_reward_definitions(s, campaign_id)
        rewards = tuple(RewardVersion(d, d.version == info.reward_version, db.rewards_for(s, campaign_id, d.version))
                        for d in definitions)
        active = next((r.values for r in rewards if r.active), {})
        infos = db.list_experiments(s, campaign_id)
        analyses = {e.id: db.latest_analysis(s, e.id) for e in infos}
        experiments = tuple(_row(n, e, active.get(e.id), analyses[e.id])
                            for n, e in enumerate(sorted(infos, key=lambda e: e.id), start=1))
        decisions = tuple(db.list_decisions(s, campaign_id))
        steps = tuple(db.step_history(s, campaign_id))
        events = tuple(db.list_events(s, campaign_id))
        counts = {k: v for k, v in db.count_by_state(s, campaign_id).items() if v}
        patterns = tuple(fit for e in _best(experiments) if (fit := _pattern(s, e, analyses[e.id])) is not None)
    stamps = _stamps(experiments, steps)
    start = min([info.started_at or info.created_at, *(d.made_at for d in decisions)])
    end = info.finished_at or max([start, *stamps])
    constraints = tuple(OutcomeConstraint.from_dict(c) for c in info.spec.get("constraints") or () if isinstance(c, Mapping))
    return ReportData(info, _objectives(info.spec), constraints, counts, experiments, decisions, steps, events, rewards, patterns,
                      start, max(end, start))


def _objectives(spec: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = spec.get("objectives") or []
    return tuple((str(o["name"]), str(o.get("direction", "maximize"))) for o in found if isinstance(o, Mapping) and "name" in o)


def _row(number: int, e: db.ExperimentInfo, reward: float | None, analysis: db.AnalysisInfo | None) -> ExperimentRow:
    state = e.state.value if isinstance(e.state, S) else str(e.state)
    result_at = next((e.timestamps[k] for k in (S.REWARDED.value, S.MEASURED.value, S.FAILED.value) if k in e.timestamps), None)
    return ExperimentRow(e.id, number, e.sample_id, state, dict(e.params), e.decision_index, e.policy, e.policy_version,
                         e.proposed_at, result_at, reward, dict(analysis.objectives) if analysis else {}, e.reason)


def _best(experiments: Sequence[ExperimentRow]) -> list[ExperimentRow]:
    """The best :data:`BEST_PATTERNS` measured experiments by active reward (ties: the earlier one)."""
    scored = [e for e in experiments if e.has_result and e.reward is not None]
    return sorted(scored, key=lambda e: (-(e.reward or 0.0), e.number))[:BEST_PATTERNS]


def _pattern(s: Any, e: ExperimentRow, analysis: db.AnalysisInfo | None) -> XrdFit | None:
    stored = db.load_measurements(s, e.id, name="xrd_pattern")
    if not stored or analysis is None:
        return None
    array = stored[-1].array()
    detail = analysis.detail
    size = detail.get("crystallite_nm")
    return XrdFit(e.id, e.sample_id, float(e.reward or 0.0), np.asarray(array[:, 0], dtype=np.float64),
                  np.asarray(array[:, 1], dtype=np.float64), {str(k): float(v) for k, v in dict(detail.get("fractions", {})).items()},
                  None if size is None else float(size), float(detail.get("residual", 0.0)))


def _stamps(experiments: Sequence[ExperimentRow], steps: Sequence[db.StepInfo]) -> list[datetime]:
    """The campaign's own times (events are left out: a later ``lab relabel`` logs on the wall clock)."""
    out = [t for st in steps for t in (st.intent_at, st.acked_at, st.done_at, st.failed_at) if t is not None]
    return out + [t for e in experiments for t in (e.proposed_at, e.result_at) if t is not None]
