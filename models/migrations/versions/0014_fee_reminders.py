"""a resident may ask for the estate's monthly fee reminder

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.add_column(
            sa.Column("fee_reminders", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("fee_reminders")
