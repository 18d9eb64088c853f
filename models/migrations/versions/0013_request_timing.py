"""requests remember when they were signed and resolved, and whether in time

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request") as batch:
        batch.add_column(sa.Column("signed_at", models.base.UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("signed_in_time", sa.Boolean()))
        batch.add_column(sa.Column("resolved_at", models.base.UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_in_time", sa.Boolean()))


def downgrade() -> None:
    with op.batch_alter_table("request") as batch:
        batch.drop_column("resolved_in_time")
        batch.drop_column("resolved_at")
        batch.drop_column("signed_in_time")
        batch.drop_column("signed_at")
