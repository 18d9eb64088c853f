"""every card of a household found by the household: a street's figures without the district's

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contact_card_household_id", "contact_card", ["household_id"])


def downgrade() -> None:
    op.drop_index("ix_contact_card_household_id", table_name="contact_card")
