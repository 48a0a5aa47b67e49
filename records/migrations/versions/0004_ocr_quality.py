"""ocr quality: per-page OCR engine and archivist flag

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite alters tables by copying them
    with op.batch_alter_table("page") as b:
        b.add_column(sa.Column("ocr_engine", sa.String(length=100), nullable=True))
        b.add_column(sa.Column("flag", sa.String(length=100), nullable=True))
        b.create_index("ix_page_flag", ["flag"])


def downgrade() -> None:
    with op.batch_alter_table("page") as b:
        b.drop_index("ix_page_flag")
        b.drop_column("flag")
        b.drop_column("ocr_engine")
