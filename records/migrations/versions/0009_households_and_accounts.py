"""households and accounts: members, status events, class, area, address, enrolment;
one-time password reset codes

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30

A household that is already stopped gets one 停保 event on its stop date, so that the
status, replayed from its events (``records.households.replay``), stays what it was.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("household") as b:
        b.add_column(sa.Column("address", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("area", sa.Enum("urban", "rural", name="area",
                                               native_enum=False, length=5), nullable=True))
        b.add_column(sa.Column("review_class", sa.Integer(), nullable=True))
        b.add_column(sa.Column("enrolled_on", sa.Date(), nullable=True))
    op.create_table(
        "household_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("id_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("id_index", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("household_id", "position", name="uq_household_member_position"),
    )
    op.create_index("ix_household_member_household_id", "household_member", ["household_id"])
    op.create_index("ix_household_member_id_index", "household_member", ["id_index"])
    events = op.create_table(
        "household_status_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.Enum("suspend", "raise", "lower", "stop", "resume",
                                    name="statuschange", native_enum=False, length=10),
                  nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_household_status_event_household_id", "household_status_event",
                    ["household_id"])
    with op.batch_alter_table("user_account") as b:
        b.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        b.add_column(sa.Column("password_expires_at", sa.DateTime(timezone=True),
                               nullable=True))
    stopped = op.get_bind().execute(sa.text(
        "SELECT id, stop_date FROM household WHERE status = 'stopped' AND stop_date IS NOT NULL"
    )).all()
    if stopped:
        now = datetime.now(timezone.utc)
        op.bulk_insert(events, [
            {"household_id": row.id, "change": "stop", "effective_on": row.stop_date,
             "reason": "停保 recorded before status events were kept",
             "recorded_by": "migration 0009", "recorded_at": now} for row in stopped])


def downgrade() -> None:
    with op.batch_alter_table("user_account") as b:
        b.drop_column("password_expires_at")
        b.drop_column("must_change_password")
    op.drop_index("ix_household_status_event_household_id", table_name="household_status_event")
    op.drop_table("household_status_event")
    op.drop_index("ix_household_member_id_index", table_name="household_member")
    op.drop_index("ix_household_member_household_id", table_name="household_member")
    op.drop_table("household_member")
    with op.batch_alter_table("household") as b:
        b.drop_column("enrolled_on")
        b.drop_column("review_class")
        b.drop_column("area")
        b.drop_column("address")
