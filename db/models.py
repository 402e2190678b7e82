"""The ledger's tables (SQLAlchemy 2.0 typed models). Rows never leave :mod:`db`.

The schema is created by the Alembic migrations in ``db/migrations`` (never by ``create_all`` in
production); a test checks that ``alembic upgrade head`` yields exactly this metadata.

Tables: ``campaigns``, ``decisions``, ``experiments``, ``steps``, ``measurements``, ``analyses``,
``reward_definitions``, ``rewards``, ``policy_versions``, ``events`` (ARCHITECTURE.md, The life of one experiment),
``workers`` (who holds which worker name, under a lease on the wall clock: :mod:`db.workers`) and
``step_intents`` (every intent committed for a step, with the worker name that sent it and the wall
clock: :mod:`db.intents`) and ``notifications`` (each notification sent, keyed so none goes twice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import UTCDateTime
from lab.experiment import ExperimentState

__all__ = [
    "CAMPAIGN_STATUSES", "EVENT_LEVELS", "STEP_STATES",
    "Analysis", "Base", "Campaign", "Decision", "Event", "Experiment", "Measurement", "Notification", "PolicyVersion", "Reward",
    "RewardDefinition", "Step", "StepIntent", "Worker",
]

#: Campaign statuses, in their usual order.
CAMPAIGN_STATUSES = ("queued", "running", "paused", "cancelled", "completed", "failed")
#: Step states: planned -> intent -> acked -> done, or failed/lost from intent/acked.
STEP_STATES = ("planned", "intent", "acked", "done", "failed", "lost")
#: Event levels.
EVENT_LEVELS = ("info", "warning", "error")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...] | list[str]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON(), float: Double()}


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (_one_of("status", CAMPAIGN_STATUSES), Index(None, "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    spec_toml: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(BigInteger)
    reward_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    approval_required: Mapped[bool]
    pause_mode: Mapped[str | None] = mapped_column(String(16))


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("campaign_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    index: Mapped[int]
    policy: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(200))
    log_prob: Mapped[float]
    pending_experiment_ids: Mapped[list[Any]]
    candidate_key: Mapped[str | None] = mapped_column(Text)
    made_at: Mapped[datetime]
    expected_completion: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]]
    approved_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        _one_of("state", [s.value for s in ExperimentState]),
        Index(None, "campaign_id", "state"),
        Index(None, "decision_id"),
        UniqueConstraint("sample_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    params: Mapped[dict[str, Any]]
    log_prob: Mapped[float]
    state: Mapped[str] = mapped_column(String(16))
    proposed_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    running_at: Mapped[datetime | None]
    measured_at: Mapped[datetime | None]
    rewarded_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    lost_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    expected_completion: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    sample_id: Mapped[str | None] = mapped_column(String(64))


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (
        _one_of("state", STEP_STATES),
        UniqueConstraint("experiment_id", "seq"),
        UniqueConstraint("idempotency_key"),
        Index(None, "state", "instrument"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    seq: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    instrument_kind: Mapped[str] = mapped_column(String(64))
    instrument: Mapped[str | None] = mapped_column(String(200))
    command: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16))
    planned_at: Mapped[datetime]
    intent_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expected_done_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    attempts: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))


class StepIntent(Base):
    __tablename__ = "step_intents"
    __table_args__ = (Index(None, "campaign_id", "wall_at"), Index(None, "step_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    worker: Mapped[str | None] = mapped_column(String(200))
    instrument: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int]
    at: Mapped[datetime]
    wall_at: Mapped[datetime]


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (Index(None, "experiment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    dtype: Mapped[str] = mapped_column(String(32))
    shape: Mapped[list[Any]]
    units: Mapped[str] = mapped_column(String(200))
    instrument: Mapped[str] = mapped_column(String(200))
    calibration_id: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict[str, Any]]
    measured_at: Mapped[datetime]


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (Index(None, "experiment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    objectives: Mapped[dict[str, Any]]
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(server_default="1")


class RewardDefinition(Base):
    __tablename__ = "reward_definitions"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Reward(Base):
    __tablename__ = "rewards"

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float]
    computed_at: Mapped[datetime]


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("sha256"), UniqueConstraint("name", "version"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    weights: Mapped[bytes | None] = mapped_column(LargeBinary)
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    parent_version: Mapped[str | None] = mapped_column(String(200))
    metrics: Mapped[dict[str, Any]]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (_one_of("level", EVENT_LEVELS), Index(None, "campaign_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]


class Worker(Base):
    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
    lease_s: Mapped[float]


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    at: Mapped[datetime]
    delivered: Mapped[bool]
    detail: Mapped[dict[str, Any]]
