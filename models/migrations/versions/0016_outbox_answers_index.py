"""the sender reads waiting answers to presses through their own index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING_ANSWERS = (
    "sent_at IS NULL AND failed_at IS NULL AND superseded_at IS NULL"
    " AND method = 'answerCallbackQuery'"
)


def upgrade() -> None:
    op.create_index(
        "ix_outbox_message_answers",
        "outbox_message",
        ["id"],
        sqlite_where=sa.text(WAITING_ANSWERS),
        postgresql_where=sa.text(WAITING_ANSWERS),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_answers", table_name="outbox_message")
