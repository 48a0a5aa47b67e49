"""id regions: where a page prints ID numbers, to cover them on images

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite alters tables by copying them; NULL = not known yet (older pages)
    with op.batch_alter_table("page") as b:
        b.add_column(sa.Column("id_regions", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page") as b:
        b.drop_column("id_regions")
