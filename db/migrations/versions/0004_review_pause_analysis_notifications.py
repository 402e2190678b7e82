"""Reviews of proposals, two kinds of pause, analysis versions and the notifications sent.

* ``decisions.rejected_at`` and ``decisions.review_reason``: a scientist may reject a batch waiting
  for approval (``lab reject``); its experiments are never run and the reason is kept.
* ``campaigns.pause_mode``: ``deferred`` (experiments already started finish every step) or
  ``now`` (no new step starts); empty unless the campaign is paused.
* ``analyses.version``: ``lab relabel --analysis`` adds a new analysis of the stored raw pattern
  beside the old one (version 1 is the analysis made when the experiment finished).
* ``notifications``: one row per notification sent (or tried), keyed so that none is sent twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("decisions", sa.Column("review_reason", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("pause_mode", sa.String(length=16), nullable=True))
    op.add_column("analyses", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("key", name=op.f("uq_notifications_key")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_notifications_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_notifications_event_id_events")),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_column("analyses", "version")
    op.drop_column("campaigns", "pause_mode")
    op.drop_column("decisions", "review_reason")
    op.drop_column("decisions", "rejected_at")
