"""words and trust: names and phones, bindings that end, filing on behalf, mediation venue

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(
            sa.Column("phone_on_card", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("resident") as batch:
        batch.add_column(sa.Column("unbound_reason", sa.String(length=16), nullable=True))
        batch.drop_constraint("uq_resident_household_id_user_id", type_="unique")
    op.create_index(
        "uq_resident_live",
        "resident",
        ["household_id", "user_id"],
        unique=True,
        sqlite_where=sa.text("unbound_at IS NULL"),
        postgresql_where=sa.text("unbound_at IS NULL"),
    )
    with op.batch_alter_table("request") as batch:
        batch.add_column(
            sa.Column("on_behalf", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "estate_settings",
        sa.Column("estate_id", sa.Integer(), nullable=False),
        sa.Column("mediation_place", sa.String(length=64), nullable=True),
        sa.Column("mediation_time", sa.Time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["estate_id"],
            ["estate.id"],
            name=op.f("fk_estate_settings_estate_id_estate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("estate_id", name=op.f("pk_estate_settings")),
    )
    op.create_table(
        "group_welcome",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("welcomed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_group_welcome")),
    )


def downgrade() -> None:
    op.drop_table("group_welcome")
    op.drop_table("estate_settings")
    with op.batch_alter_table("request") as batch:
        batch.drop_column("on_behalf")
    op.drop_index("uq_resident_live", table_name="resident")
    with op.batch_alter_table("resident") as batch:
        batch.create_unique_constraint(
            "uq_resident_household_id_user_id", ["household_id", "user_id"]
        )
        batch.drop_column("unbound_reason")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("phone_on_card")
