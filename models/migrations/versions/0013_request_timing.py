"""requests remember when they were signed and resolved, and whether in time; the weekly
figures pushed once per unit and week

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request") as batch:
        batch.add_column(sa.Column("signed_at", models.base.UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("signed_in_time", sa.Boolean()))
        batch.add_column(sa.Column("resolved_at", models.base.UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_in_time", sa.Boolean()))
    op.create_table(
        "figures_push",
        sa.Column("unit_kind", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("sent_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit_kind", "unit_id", "week", name=op.f("pk_figures_push")),
    )


def downgrade() -> None:
    op.drop_table("figures_push")
    with op.batch_alter_table("request") as batch:
        batch.drop_column("resolved_in_time")
        batch.drop_column("resolved_at")
        batch.drop_column("signed_in_time")
        batch.drop_column("signed_at")
