"""self lookup: allowance certificates, citizen requests and their rate limit (本人查阅)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Tables of ``records/self_lookup.py``. No ID number, certificate number or
access code is stored: certificate numbers and the rate limit's keys are
HMAC blind indexes, codes are stored as an HMAC.
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household_certificate",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("certificate_no_index", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("household_id"),
    )
    op.create_table(
        "self_lookup_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum("pending", "approved", "redeemed", "closed", "rejected",
                                    name="requeststatus", native_enum=False, length=10),
                  nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("self_lookup_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_self_lookup_request_household_id"), ["household_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_self_lookup_request_status"), ["status"],
                              unique=False)
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
    with op.batch_alter_table("self_lookup_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_self_lookup_attempt_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_self_lookup_attempt_ip_key"), ["ip_key"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_self_lookup_attempt_id_key"), ["id_key"],
                              unique=False)


def downgrade() -> None:
    op.drop_table("self_lookup_attempt")
    op.drop_table("self_lookup_request")
    op.drop_table("household_certificate")
