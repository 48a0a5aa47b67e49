"""the archivist's desk: required document types, 责任者, item numbers, 档号, reviews

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

The households' review class, area and enrolment date, which the due-review
list and the statistics read, come with 0009.

Existing documents keep their order (``seq``) and get item numbers in that
order (件号 1..n per dossier) with a history row each; their dossiers get an
archival code (档号) the first time they are numbered by hudang (the pattern is
a setting, which a migration does not read).
"""
from alembic import op
import sqlalchemy as sa

from records.doctypes import REQUIRED_BY_DEFAULT

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_type") as b:
        b.add_column(sa.Column("required", sa.Boolean(), nullable=False,
                               server_default=sa.false()))
    document_type = sa.table("document_type", sa.column("code", sa.String),
                             sa.column("required", sa.Boolean))
    op.execute(document_type.update().where(document_type.c.code.in_(sorted(REQUIRED_BY_DEFAULT)))
               .values(required=True))

    with op.batch_alter_table("dossier") as b:
        b.add_column(sa.Column("archival_code", sa.String(length=120), nullable=True))
        b.create_unique_constraint("uq_dossier_archival_code", ["archival_code"])
    with op.batch_alter_table("document") as b:
        b.add_column(sa.Column("item_no", sa.Integer(), nullable=True))
        b.add_column(sa.Column("responsible", sa.String(length=100), nullable=True))

    op.create_table(
        "item_number",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dossier_id", "number", name="uq_item_number_dossier"),
    )
    op.create_index("ix_item_number_dossier_id", "item_number", ["dossier_id"])
    op.create_index("ix_item_number_document_id", "item_number", ["document_id"])

    op.create_table(
        "review_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.Enum("continued", "adjusted", "stop_proposed",
                                     name="reviewoutcome", native_enum=False, length=20),
                  nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_event_household_id", "review_event", ["household_id"])

    # existing documents: item numbers 1..n in their order, each with its history row
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, dossier_id FROM document ORDER BY dossier_id, seq"))
    counters: dict[int, int] = {}
    for document_id, dossier_id in rows.fetchall():
        number = counters[dossier_id] = counters.get(dossier_id, 0) + 1
        conn.execute(sa.text("UPDATE document SET item_no = :n WHERE id = :id"),
                     {"n": number, "id": document_id})
        conn.execute(sa.text(
            "INSERT INTO item_number (dossier_id, number, code, document_id, assigned_at, "
            "assigned_by, reason) VALUES (:d, :n, :c, :doc, CURRENT_TIMESTAMP, 'migration', "
            "'numbering')"), {"d": dossier_id, "n": number, "c": f"{number:04d}",
                              "doc": document_id})


def downgrade() -> None:
    op.drop_index("ix_review_event_household_id", table_name="review_event")
    op.drop_table("review_event")
    op.drop_index("ix_item_number_document_id", table_name="item_number")
    op.drop_index("ix_item_number_dossier_id", table_name="item_number")
    op.drop_table("item_number")
    with op.batch_alter_table("document") as b:
        b.drop_column("responsible")
        b.drop_column("item_no")
    with op.batch_alter_table("dossier") as b:
        b.drop_constraint("uq_dossier_archival_code", type_="unique")
        b.drop_column("archival_code")
    with op.batch_alter_table("document_type") as b:
        b.drop_column("required")
