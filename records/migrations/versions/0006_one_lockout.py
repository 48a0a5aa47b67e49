"""one lock-out: failed sign-ins and self-lookup attempts in one table

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Sign-in kept its own counters on ``user_account`` and self-lookup its own
attempt table; both now count failures in ``failed_attempt`` under one rule
(``records.lockout``). Counts in flight are not carried over: at worst a
lock-out that was running ends early, once.
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failed_attempt_kind_key_at", "failed_attempt", ["kind", "key", "at"])
    op.drop_table("self_lookup_attempt")
    with op.batch_alter_table("user_account") as b:
        b.drop_column("failed_logins")
        b.drop_column("first_failed_at")
        b.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("user_account") as b:
        b.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                               server_default="0"))
    op.create_table(
        "self_lookup_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip_key", sa.String(length=64), nullable=False),
        sa.Column("id_key", sa.String(length=64), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.drop_index("ix_failed_attempt_kind_key_at", table_name="failed_attempt")
    op.drop_table("failed_attempt")
