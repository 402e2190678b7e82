"""Analyses (objective values estimated from raw measurements) and versioned rewards.

* An analysis row holds one experiment's objective values (e.g. the target phase fraction from an
  XRD fit) and a version (1, 2...). An experiment may be analysed again (``lab relabel --analysis``):
  the new row gets a higher version and old rows are kept. Every reader takes the experiment's
  latest analysis: highest version, then latest ``created_at``, then highest id (deterministic).
* Reward definitions are versioned per campaign and immutable: a changed definition is a new
  version. The campaign's ``reward_version`` names the active one.
* Rewards are keyed by (experiment, version): recomputing under a new version keeps the old values.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.campaigns import campaign_row
from db.errors import ConflictingRecord, RewardVersionNotFound
from db.experiments import experiment_row
from db.models import Analysis, Experiment, Reward
from db.models import RewardDefinition as RewardDefinitionRow
from db.records import AnalysisInfo
from db.types import aware_utc
from lab.reward import RewardDefinition

__all__ = [
    "add_reward_definition", "get_reward_definition", "latest_analyses", "latest_analysis", "latest_objectives",
    "list_analyses", "list_reward_definitions", "max_analysis_version", "objectives_for", "rewards_for",
    "set_active_reward_version", "store_analysis", "store_reward",
]


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what}={value!r} is not a finite number; record a chemistry failure instead "
                         "(transition the experiment to failed)")
    return number


def store_analysis(session: Session, experiment_id: int, objectives: dict[str, float], detail: dict[str, Any],
                   at: datetime, version: int | None = None) -> int:
    """Store an analysis of the experiment's measurements; returns its id.

    Args:
        version: the analysis version (``None``: one above the experiment's highest stored version,
            1 for its first analysis). It must be above every version the experiment already has.

    Raises:
        ExperimentNotFound: no experiment has this id.
        ValueError: an objective value is NaN or infinite.
        ConflictingRecord: ``version`` is not above the experiment's highest stored version.
    """
    at = aware_utc(at)
    values = {str(k): _finite(v, f"objective {k}") for k, v in objectives.items()}
    experiment_row(session, experiment_id)
    highest = int(session.scalar(select(func.max(Analysis.version)).where(Analysis.experiment_id == experiment_id)) or 0)
    if version is None:
        version = highest + 1
    elif version <= highest:
        raise ConflictingRecord(f"experiment {experiment_id} already has analysis version {highest}; "
                                f"a new analysis needs a higher version than {version}")
    row = Analysis(experiment_id=experiment_id, objectives=values, detail=dict(detail), created_at=at, version=version)
    session.add(row)
    session.flush()
    return row.id


def _info(row: Analysis) -> AnalysisInfo:
    return AnalysisInfo(row.id, row.experiment_id, dict(row.objectives), copy.deepcopy(row.detail), row.created_at,
                        int(row.version))


#: Oldest first; the last row of an experiment in this order is its latest analysis.
_ORDER = (Analysis.version, Analysis.created_at, Analysis.id)


def latest_analysis(session: Session, experiment_id: int) -> AnalysisInfo | None:
    """The experiment's latest analysis (highest version, then newest), or ``None``."""
    row = session.scalars(select(Analysis).where(Analysis.experiment_id == experiment_id)
                          .order_by(*(c.desc() for c in _ORDER)).limit(1)).first()
    return None if row is None else _info(row)


def list_analyses(session: Session, experiment_id: int) -> list[AnalysisInfo]:
    """Every analysis of the experiment, oldest version first (the last is the latest)."""
    return [_info(r) for r in session.scalars(select(Analysis).where(Analysis.experiment_id == experiment_id).order_by(*_ORDER))]


def latest_objectives(session: Session, experiment_id: int) -> dict[str, float] | None:
    """The objective values of the experiment's latest analysis, or ``None`` if never analysed."""
    found = latest_analysis(session, experiment_id)
    return None if found is None else found.objectives


def latest_analyses(session: Session, campaign_id: int) -> dict[int, AnalysisInfo]:
    """Experiment id -> latest analysis, for every analysed experiment of the campaign."""
    query = (select(Analysis).join(Experiment, Analysis.experiment_id == Experiment.id)
             .where(Experiment.campaign_id == campaign_id).order_by(*_ORDER))
    return {int(row.experiment_id): _info(row) for row in session.scalars(query)}


def objectives_for(session: Session, campaign_id: int) -> dict[int, dict[str, float]]:
    """Experiment id -> latest objective values, for every analysed experiment of the campaign."""
    query = (select(Analysis.experiment_id, Analysis.objectives).join(Experiment, Analysis.experiment_id == Experiment.id)
             .where(Experiment.campaign_id == campaign_id).order_by(*_ORDER))
    return {int(eid): dict(obj) for eid, obj in session.execute(query)}


def max_analysis_version(session: Session, campaign_id: int) -> int:
    """The highest analysis version among the campaign's experiments (0 when none was analysed)."""
    query = (select(func.max(Analysis.version)).join(Experiment, Analysis.experiment_id == Experiment.id)
             .where(Experiment.campaign_id == campaign_id))
    return int(session.scalar(query) or 0)


def _definition_row(session: Session, campaign_id: int, version: str) -> RewardDefinitionRow | None:
    return session.get(RewardDefinitionRow, (campaign_id, version))


def add_reward_definition(session: Session, campaign_id: int, reward: RewardDefinition, at: datetime) -> None:
    """Add a reward-definition version to the campaign (it does not become active; see
    :func:`set_active_reward_version`). Adding an identical definition again does nothing.

    Raises:
        CampaignNotFound: no campaign has this id.
        ConflictingRecord: the version exists with a different definition (use a new version label).
    """
    at = aware_utc(at)
    campaign_row(session, campaign_id)
    old = _definition_row(session, campaign_id, reward.version)
    if old is not None:
        if RewardDefinition.from_dict(old.definition) != reward:
            raise ConflictingRecord(f"campaign {campaign_id} already has reward version {reward.version!r} with a different "
                                    f"definition {old.definition}; give the changed definition a new version")
        return
    session.add(RewardDefinitionRow(campaign_id=campaign_id, version=reward.version, definition=reward.to_dict(),
                                    created_at=at))
    session.flush()


def get_reward_definition(session: Session, campaign_id: int, version: str | None = None) -> RewardDefinition:
    """A reward definition of the campaign (``version=None``: the active one).

    Raises:
        CampaignNotFound: no campaign has this id.
        RewardVersionNotFound: the campaign has no such version.
    """
    campaign = campaign_row(session, campaign_id)
    version = campaign.reward_version if version is None else version
    row = _definition_row(session, campaign_id, version)
    if row is None:
        known = ", ".join(d.version for d in list_reward_definitions(session, campaign_id)) or "none"
        raise RewardVersionNotFound(f"campaign {campaign_id} has no reward version {version!r} (it has: {known})")
    return RewardDefinition.from_dict(row.definition)


def list_reward_definitions(session: Session, campaign_id: int) -> list[RewardDefinition]:
    """The campaign's reward definitions, oldest first."""
    rows = session.scalars(select(RewardDefinitionRow).where(RewardDefinitionRow.campaign_id == campaign_id)
                           .order_by(RewardDefinitionRow.created_at, RewardDefinitionRow.version))
    return [RewardDefinition.from_dict(r.definition) for r in rows]


def set_active_reward_version(session: Session, campaign_id: int, version: str) -> None:
    """Make ``version`` the campaign's active reward definition.

    Raises:
        CampaignNotFound, RewardVersionNotFound.
    """
    get_reward_definition(session, campaign_id, version)
    campaign_row(session, campaign_id, for_update=True).reward_version = version
    session.flush()


def store_reward(session: Session, experiment_id: int, version: str, value: float, at: datetime, *,
                 replace: bool = False) -> None:
    """Store the experiment's reward under a reward version (idempotent for the same value).

    Args:
        replace: overwrite a different stored value (e.g. after the experiment was re-analysed).

    Raises:
        ExperimentNotFound: no experiment has this id.
        RewardVersionNotFound: the experiment's campaign has no such reward version.
        ConflictingRecord: a different value is stored and ``replace`` is False.
        ValueError: ``value`` is NaN or infinite.
    """
    at = aware_utc(at)
    value = _finite(value, "reward")
    experiment = experiment_row(session, experiment_id)
    get_reward_definition(session, experiment.campaign_id, version)
    old = session.get(Reward, (experiment_id, version), with_for_update=True)
    if old is None:
        session.add(Reward(experiment_id=experiment_id, version=version, value=value, computed_at=at))
    elif old.value != value:
        if not replace:
            raise ConflictingRecord(f"experiment {experiment_id} already has reward {old.value!r} under {version!r}, "
                                    f"not {value!r}; pass replace=True to overwrite")
        old.value, old.computed_at = value, at
    session.flush()


def rewards_for(session: Session, campaign_id: int, version: str) -> dict[int, float]:
    """Experiment id -> reward under ``version``, for the campaign's rewarded experiments."""
    query = (select(Reward.experiment_id, Reward.value).join(Experiment, Reward.experiment_id == Experiment.id)
             .where(Experiment.campaign_id == campaign_id, Reward.version == version))
    return {int(eid): float(v) for eid, v in session.execute(query)}
