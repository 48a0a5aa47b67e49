"""signed-in sessions in the catalogue, so that signing out holds in every server process

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

``hudang serve --workers N`` answers each request from any of N processes. The session
cookie now carries a random token whose SHA-256 is a row of ``signed_in``; signing out ends
the row, and every process refuses the cookie from then on. Sessions of the previous
version carry no token: they end, once, at their next request.
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_in",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_signed_in_user_id", "signed_in", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_signed_in_user_id", table_name="signed_in")
    op.drop_table("signed_in")
