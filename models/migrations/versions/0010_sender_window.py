"""sender on a real network: answers first, edits that coalesce, outcomes unknown

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "sent_at IS NULL AND failed_at IS NULL"
NEW = "sent_at IS NULL AND failed_at IS NULL AND superseded_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("edit_key", sa.String(length=96), nullable=True))
        batch.add_column(
            sa.Column("unknown_outcomes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("superseded_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )
    _pending_index(NEW)
    op.create_index(
        "ix_outbox_message_edit_key",
        "outbox_message",
        ["chat_id", "edit_key", "id"],
        sqlite_where=sa.text("edit_key IS NOT NULL"),
        postgresql_where=sa.text("edit_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_edit_key", table_name="outbox_message")
    _pending_index(OLD)
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("superseded_at")
        batch.drop_column("unknown_outcomes")
        batch.drop_column("edit_key")
        batch.drop_column("urgent")


def _pending_index(where: str) -> None:
    op.drop_index("ix_outbox_message_pending", table_name="outbox_message")
    op.create_index(
        "ix_outbox_message_pending",
        "outbox_message",
        ["chat_id", "id"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
