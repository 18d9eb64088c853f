"""neighbour-head elections: elections, candidates, roll, participation apart from ballots,
paper codes and entries, recall petitions; outbox rows that are secret once sent

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:30:49.244588
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "election",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("change_allowed", sa.Boolean(), nullable=False),
        sa.Column("seconds_needed", sa.Integer(), nullable=False),
        sa.Column("voting_days", sa.Integer(), nullable=False),
        sa.Column("publication_days", sa.Integer(), nullable=False),
        sa.Column("nomination_ends", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("voting_ends", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("publication_ends", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("roll_size", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("recalled_user_id", sa.BigInteger(), nullable=True),
        sa.Column("ballot", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["neighbour_group.id"],
            name=op.f("fk_election_group_id_neighbour_group"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["election.id"],
            name=op.f("fk_election_parent_id_election"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election")),
    )
    with op.batch_alter_table("election", schema=None) as batch_op:
        batch_op.create_index("ix_election_group_phase", ["group_id", "phase"], unique=False)

    op.create_table(
        "election_ballot",
        sa.Column("receipt", sa.String(length=16), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_ballot_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("receipt", name=op.f("pk_election_ballot")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("election_ballot", schema=None) as batch_op:
        batch_op.create_index("ix_election_ballot_election", ["election_id"], unique=False)

    op.create_table(
        "election_candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("circle", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("nominated_by", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_candidate_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_election_candidate_household_id_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election_candidate")),
    )
    with op.batch_alter_table("election_candidate", schema=None) as batch_op:
        batch_op.create_index("uq_election_candidate", ["election_id", "user_id"], unique=True)

    op.create_table(
        "election_paper_code",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("box", sa.String(length=16), nullable=False),
        sa.Column("entered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_paper_code_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_election_paper_code")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "election_paper_entry",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("teller_user_id", sa.BigInteger(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_paper_entry_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", "teller_user_id", name=op.f("pk_election_paper_entry")),
    )
    op.create_table(
        "election_participation",
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_participation_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_election_participation_household_id_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "election_id", "household_id", name=op.f("pk_election_participation")
        ),
    )
    op.create_table(
        "election_recall_signature",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("head_user_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["neighbour_group.id"],
            name=op.f("fk_election_recall_signature_group_id_neighbour_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_election_recall_signature_household_id_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "group_id", "household_id", name=op.f("pk_election_recall_signature")
        ),
    )
    op.create_table(
        "election_roll",
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["election.id"],
            name=op.f("fk_election_roll_election_id_election"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_election_roll_household_id_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("election_id", "household_id", name=op.f("pk_election_roll")),
    )
    op.create_table(
        "election_second",
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["election_candidate.id"],
            name=op.f("fk_election_second_candidate_id_election_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_election_second_household_id_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("candidate_id", "household_id", name=op.f("pk_election_second")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("secret", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("secret")

    op.drop_table("election_second")
    op.drop_table("election_roll")
    op.drop_table("election_recall_signature")
    op.drop_table("election_participation")
    op.drop_table("election_paper_entry")
    op.drop_table("election_paper_code")
    with op.batch_alter_table("election_candidate", schema=None) as batch_op:
        batch_op.drop_index("uq_election_candidate")

    op.drop_table("election_candidate")
    with op.batch_alter_table("election_ballot", schema=None) as batch_op:
        batch_op.drop_index("ix_election_ballot_election")

    op.drop_table("election_ballot")
    with op.batch_alter_table("election", schema=None) as batch_op:
        batch_op.drop_index("ix_election_group_phase")

    op.drop_table("election")
