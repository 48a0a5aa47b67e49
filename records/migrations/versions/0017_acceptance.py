"""sampling acceptance (验收) of digitisation batches: rounds, sampled documents, rework

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

One ``acceptance`` row per round of a batch's acceptance (the sample rate and threshold it
was drawn under, the outcome, the acceptance report as an encrypted blob with its wrapped
key), one ``acceptance_item`` per sampled document with its verdict and rework. The batch's
new states (sampling, accepted, rejected) need no DDL: ``batch.state`` is a non-native enum
stored as a string.
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OUTCOME = sa.Enum("accepted", "rejected", name="acceptanceoutcome", native_enum=False,
                  length=10)
VERDICT = sa.Enum("passed", "failed", name="verdict", native_enum=False, length=10)
REWORK = sa.Enum("none", "pending", "done", name="reworkstate", native_enum=False, length=10)


def upgrade() -> None:
    op.create_table(
        "acceptance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", OUTCOME, nullable=True),
        sa.Column("report_ref", sa.String(length=64), nullable=True),
        sa.Column("report_key", sa.LargeBinary(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "round", name="uq_acceptance_round"),
    )
    op.create_index("ix_acceptance_batch_id", "acceptance", ["batch_id"])
    op.create_table(
        "acceptance_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("acceptance_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("verdict", VERDICT, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("judged_by", sa.String(length=100), nullable=True),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rework", REWORK, nullable=False),
        sa.Column("rework_correction_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["acceptance_id"], ["acceptance.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["rework_correction_id"], ["correction.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("acceptance_id", "document_id", name="uq_acceptance_item_document"),
    )
    op.create_index("ix_acceptance_item_acceptance_id", "acceptance_item", ["acceptance_id"])
    op.create_index("ix_acceptance_item_document_id", "acceptance_item", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_acceptance_item_document_id", table_name="acceptance_item")
    op.drop_index("ix_acceptance_item_acceptance_id", table_name="acceptance_item")
    op.drop_table("acceptance_item")
    op.drop_index("ix_acceptance_batch_id", table_name="acceptance")
    op.drop_table("acceptance")
