"""corrections of stored documents: OCR text, page rotation, page and document rescans

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

One row per correction (ingest.corrections). The changed lines of a text correction are
sealed (lines_sealed), never stored in the clear. 0013-0015 are other branches'; the lead
rechains at merge.
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("lines_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_correction_document_id", "correction", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_correction_document_id", table_name="correction")
    op.drop_table("correction")
