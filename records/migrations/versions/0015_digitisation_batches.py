"""digitisation batches (批次), their rows, and each page's scan metadata and findings

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

A batch is one box's digitisation run (``hudang ingest-box``); each row of its manifest
(or each document of a separated long scan) keeps its outcome and the scanner tags of its
file; a document names the batch it came in with. Every page ingested from now on gets a
``page_scan`` row: resolution, colour mode, bit depth, skew before correction, a perceptual
hash and the scan-quality findings (DA/T 31-2017 数据质检). Pages ingested before have none.
0013 and 0014 are other branches'; the lead rechains at merge.
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PROFILE = sa.Enum("standard", "colour", name="scanprofile", native_enum=False, length=10)
STATE = sa.Enum("running", "ingested", name="batchstate", native_enum=False, length=20)
OUTCOME = sa.Enum("pending", "stored", "duplicate", "failed", name="rowoutcome",
                  native_enum=False, length=10)


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.Column("profile", PROFILE, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["container_id"], ["container.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", name="uq_batch_source"),
    )
    op.create_index("ix_batch_container_id", "batch", ["container_id"])
    op.create_index("ix_batch_state", "batch", ["state"])
    op.create_index("ix_batch_region_code", "batch", ["region_code"])

    op.create_table(
        "batch_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=300), nullable=False),
        sa.Column("household_no", sa.String(length=40), nullable=False),
        sa.Column("doc_type", sa.String(length=50), nullable=False),
        sa.Column("declared_pages", sa.Integer(), nullable=True),
        sa.Column("outcome", OUTCOME, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("scanner_make", sa.String(length=100), nullable=True),
        sa.Column("scanner_model", sa.String(length=100), nullable=True),
        sa.Column("scanner_software", sa.String(length=100), nullable=True),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "position", "item", name="uq_batch_row_item"),
    )
    op.create_index("ix_batch_row_batch_id", "batch_row", ["batch_id"])
    op.create_index("ix_batch_row_document_id", "batch_row", ["document_id"])

    op.create_table(
        "page_scan",
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("dpi", sa.Float(), nullable=True),
        sa.Column("colour_mode", sa.String(length=10), nullable=True),
        sa.Column("bit_depth", sa.Integer(), nullable=True),
        sa.Column("skew", sa.Float(), nullable=True),
        sa.Column("phash", sa.String(length=64), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.PrimaryKeyConstraint("page_id"),
    )
    op.create_index("ix_page_scan_batch_id", "page_scan", ["batch_id"])
    op.create_index("ix_page_scan_phash", "page_scan", ["phash"])
    op.create_index("ix_page_scan_flagged", "page_scan", ["flagged"])

    with op.batch_alter_table("document") as b:
        b.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        b.create_foreign_key("fk_document_batch_id", "batch", ["batch_id"], ["id"])
        b.create_index("ix_document_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("document") as b:
        b.drop_index("ix_document_batch_id")
        b.drop_constraint("fk_document_batch_id", type_="foreignkey")
        b.drop_column("batch_id")
    op.drop_table("page_scan")
    op.drop_table("batch_row")
    op.drop_table("batch")
