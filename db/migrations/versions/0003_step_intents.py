"""Who sent each step intent: ``steps.claimed_by`` and the ``step_intents`` log.

``steps.claimed_by`` names the worker that sent a step's latest intent; ``step_intents`` keeps
every intent (worker name, instrument, attempt, campaign clock and wall clock), so that an audit
can tell whether two workers ever acted on one campaign at once (``lab bench crash``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("steps", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.create_table(
        "step_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("instrument", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wall_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_intents")),
        sa.ForeignKeyConstraint(["step_id"], ["steps.id"], name=op.f("fk_step_intents_step_id_steps")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_step_intents_campaign_id_campaigns")),
    )
    op.create_index(op.f("ix_step_intents_campaign_id_wall_at"), "step_intents", ["campaign_id", "wall_at"])
    op.create_index(op.f("ix_step_intents_step_id"), "step_intents", ["step_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_step_intents_step_id"), table_name="step_intents")
    op.drop_index(op.f("ix_step_intents_campaign_id_wall_at"), table_name="step_intents")
    op.drop_table("step_intents")
    op.drop_column("steps", "claimed_by")
