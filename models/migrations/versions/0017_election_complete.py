"""an election every household voted in is marked complete and closed by the elections job

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPLETE = "phase = 'voting' AND completed_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("election") as table:
        table.add_column(sa.Column("completed_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_election_phase_ends", "election", ["phase", "voting_ends"])
    op.create_index(
        "ix_election_complete",
        "election",
        ["id"],
        sqlite_where=sa.text(COMPLETE),
        postgresql_where=sa.text(COMPLETE),
    )


def downgrade() -> None:
    op.drop_index("ix_election_complete", table_name="election")
    op.drop_index("ix_election_phase_ends", table_name="election")
    with op.batch_alter_table("election") as table:
        table.drop_column("completed_at")
