"""Initial ledger schema: campaigns, decisions, experiments, steps, measurements, analyses,
reward definitions, rewards, policy versions and events.

Hand-written to match ``db/models.py`` exactly (a test compares them after ``upgrade head``).
Timestamps are ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL; SQLite stores them naive UTC.

Revision ID: 0001
Revises:
Create Date: 2026-01-05 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column:
    return sa.Column(name, sa.JSON(), nullable=False)


def _check(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{column}"))


CAMPAIGN_STATUSES = ("queued", "running", "paused", "cancelled", "completed", "failed")
EXPERIMENT_STATES = ("proposed", "dispatched", "running", "measured", "rewarded", "cancelled", "failed", "lost")
STEP_STATES = ("planned", "intent", "acked", "done", "failed", "lost")
EVENT_LEVELS = ("info", "warning", "error")


def upgrade() -> None:
    # Long by design: a migration lists every table of the schema in one place, as Alembic writes them.
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec_toml", sa.Text(), nullable=False),
        _json("spec"),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("reward_version", sa.String(64), nullable=False),
        _ts("created_at", nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        _ts("heartbeat_at"),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        _check("campaigns", "status", CAMPAIGN_STATUSES),
    )
    op.create_index(op.f("ix_campaigns_status"), "campaigns", ["status"])

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=True),
        _json("config"),
        _ts("created_at", nullable=False),
        sa.Column("parent_version", sa.String(200), nullable=True),
        _json("metrics"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("sha256", name=op.f("uq_policy_versions_sha256")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_policy_versions_name_version")),
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(200), nullable=False),
        sa.Column("log_prob", sa.Double(), nullable=False),
        _json("pending_experiment_ids"),
        sa.Column("candidate_key", sa.Text(), nullable=True),
        _ts("made_at", nullable=False),
        _ts("expected_completion"),
        _ts("deadline"),
        _json("detail"),
        _ts("approved_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_decisions_campaign_id_campaigns")),
        sa.UniqueConstraint("campaign_id", "index", name=op.f("uq_decisions_campaign_id_index")),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        _ts("at", nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _json("detail"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_events_campaign_id_campaigns")),
        _check("events", "level", EVENT_LEVELS),
    )
    op.create_index(op.f("ix_events_campaign_id_at"), "events", ["campaign_id", "at"])

    op.create_table(
        "reward_definitions",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        _json("definition"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "version", name=op.f("pk_reward_definitions")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_reward_definitions_campaign_id_campaigns")),
    )

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        _json("params"),
        sa.Column("log_prob", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("proposed_at", nullable=False),
        _ts("dispatched_at"),
        _ts("running_at"),
        _ts("measured_at"),
        _ts("rewarded_at"),
        _ts("cancelled_at"),
        _ts("failed_at"),
        _ts("lost_at"),
        sa.Column("reason", sa.Text(), nullable=True),
        _ts("expected_completion"),
        _ts("deadline"),
        sa.Column("sample_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_experiments_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_experiments_decision_id_decisions")),
        sa.UniqueConstraint("sample_id", name=op.f("uq_experiments_sample_id")),
        _check("experiments", "state", EXPERIMENT_STATES),
    )
    op.create_index(op.f("ix_experiments_campaign_id_state"), "experiments", ["campaign_id", "state"])
    op.create_index(op.f("ix_experiments_decision_id"), "experiments", ["decision_id"])

    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        _json("objectives"),
        _json("detail"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name=op.f("fk_analyses_experiment_id_experiments")),
    )
    op.create_index(op.f("ix_analyses_experiment_id"), "analyses", ["experiment_id"])

    op.create_table(
        "rewards",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        _ts("computed_at", nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "version", name=op.f("pk_rewards")),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name=op.f("fk_rewards_experiment_id_experiments")),
    )

    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("instrument_kind", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=True),
        _json("command"),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("planned_at", nullable=False),
        _ts("intent_at"),
        _ts("acked_at"),
        _ts("done_at"),
        _ts("failed_at"),
        _ts("expected_done_at"),
        _ts("deadline"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steps")),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name=op.f("fk_steps_experiment_id_experiments")),
        sa.UniqueConstraint("experiment_id", "seq", name=op.f("uq_steps_experiment_id_seq")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_steps_idempotency_key")),
        _check("steps", "state", STEP_STATES),
    )
    op.create_index(op.f("ix_steps_state_instrument"), "steps", ["state", "instrument"])

    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("dtype", sa.String(32), nullable=False),
        _json("shape"),
        sa.Column("units", sa.String(200), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("calibration_id", sa.String(200), nullable=True),
        _json("meta"),
        _ts("measured_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"],
                                name=op.f("fk_measurements_experiment_id_experiments")),
        sa.ForeignKeyConstraint(["step_id"], ["steps.id"], name=op.f("fk_measurements_step_id_steps")),
    )
    op.create_index(op.f("ix_measurements_experiment_id_name"), "measurements", ["experiment_id", "name"])


def downgrade() -> None:
    for table in ("measurements", "steps", "rewards", "analyses", "experiments", "reward_definitions", "events",
                  "decisions", "policy_versions", "campaigns"):
        op.drop_table(table)
