"""retention classes, holds, destruction lists and the archive's own records

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01

Seeds three retention classes (审批类 3 years after the stop date, the default of household
dossiers and of every document type; 日常管理类 5 years from the document's date; 永久 for
the destruction lists and certificates themselves). A dossier whose household is stopped
gets its disposition date (stop date + 3 years), as records.retention would compute it.
0011 is another branch's; the lead rechains at merge.
"""
from datetime import date

from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TRIGGER = sa.Enum("document_date", "stop_date", "permanent", name="retentiontrigger",
                   native_enum=False, length=20)
_ACTION = sa.Enum("destroy", "review", "transfer", name="endaction", native_enum=False,
                  length=10)
_LIST_STATUS = sa.Enum("draft", "submitted", "returned", "approved", "executing", "executed",
                       "cancelled", name="liststatus", native_enum=False, length=10)
_ITEM_STATUS = sa.Enum("pending", "destroyed", "held", "skipped", name="itemstatus",
                       native_enum=False, length=10)

SEEDS = [
    # code, name_zh, name_en, years, trigger, action, default_for_dossiers, locked, order
    ("approval-3y", "审批类（停保后3年）", "approval records (3 years after the stop)", 3,
     "stop_date", "destroy", True, False, 1),
    ("daily-5y", "日常管理类（5年）", "daily-management records (5 years)", 5,
     "document_date", "destroy", False, False, 2),
    ("permanent", "永久", "permanent", 0, "permanent", "review", False, True, 3),
]


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def upgrade() -> None:
    op.create_table(
        "retention_class",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("trigger", _TRIGGER, nullable=False),
        sa.Column("action", _ACTION, nullable=False),
        sa.Column("default_for_dossiers", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    classes = sa.table("retention_class", *(sa.column(n) for n in (
        "code", "name_zh", "name_en", "years", "trigger", "action", "default_for_dossiers",
        "locked", "sort_order")))
    op.bulk_insert(classes, [dict(zip(("code", "name_zh", "name_en", "years", "trigger",
                                       "action", "default_for_dossiers", "locked",
                                       "sort_order"), row)) for row in SEEDS])

    op.create_table(
        "destruction_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("status", _LIST_STATUS, nullable=False),
        sa.Column("fonds", sa.String(length=20), nullable=False),
        sa.Column("due_within", sa.Integer(), nullable=False),
        sa.Column("drafted_by", sa.String(length=100), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=100), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("witness_1_by", sa.String(length=100), nullable=True),
        sa.Column("witness_1_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("witness_2_by", sa.String(length=100), nullable=True),
        sa.Column("witness_2_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_destruction_list_region_code", "destruction_list", ["region_code"])
    op.create_index("ix_destruction_list_status", "destruction_list", ["status"])

    with op.batch_alter_table("document_type") as b:
        b.add_column(sa.Column("retention_class", sa.String(length=40), nullable=False,
                               server_default="approval-3y"))
        b.create_foreign_key("fk_document_type_retention_class", "retention_class",
                             ["retention_class"], ["code"])
    # the types of daily-management records (0011) keep theirs 5 years from their date
    op.execute(sa.text("UPDATE document_type SET retention_class = 'daily-5y' "
                       "WHERE daily = :daily").bindparams(daily=True))
    with op.batch_alter_table("dossier") as b:
        b.add_column(sa.Column("retention_class", sa.String(length=40), nullable=True))
        b.add_column(sa.Column("disposition_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("destruction_list_id", sa.Integer(), nullable=True))
        b.create_foreign_key("fk_dossier_retention_class", "retention_class",
                             ["retention_class"], ["code"])
        b.create_foreign_key("fk_dossier_destruction_list", "destruction_list",
                             ["destruction_list_id"], ["id"])
        b.create_index("ix_dossier_disposition_on", ["disposition_on"])
    # document.retention_class itself came with 0011 (daily records); it now names a class
    with op.batch_alter_table("document") as b:
        b.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))
        b.create_foreign_key("fk_document_retention_class", "retention_class",
                             ["retention_class"], ["code"])

    op.create_table(
        "retention_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.String(length=40), nullable=True),
        sa.Column("after", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_change_dossier_id", "retention_change", ["dossier_id"])

    op.create_table(
        "hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_by", sa.String(length=100), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hold_household_id", "hold", ["household_id"])
    op.create_index("ix_hold_lifted_at", "hold", ["lifted_at"])

    op.create_table(
        "destruction_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("household_no", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("years", sa.String(length=20), nullable=False),
        sa.Column("archival_code", sa.String(length=120), nullable=False),
        sa.Column("retention", sa.String(length=100), nullable=False),
        sa.Column("retained_from", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("status", _ITEM_STATUS, nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["destruction_list.id"]),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("list_id", "dossier_id", name="uq_destruction_item"),
    )
    op.create_index("ix_destruction_item_list_id", "destruction_item", ["list_id"])
    op.create_index("ix_destruction_item_dossier_id", "destruction_item", ["dossier_id"])

    op.create_table(
        "destruction_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["destruction_list.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_destruction_step_list_id", "destruction_step", ["list_id"])

    op.create_table(
        "archive_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("retention_class", sa.String(length=40), nullable=False),
        sa.Column("destruction_list_id", sa.Integer(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("pdf_ref", sa.String(length=64), nullable=False),
        sa.Column("pdf_key", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"]),
        sa.ForeignKeyConstraint(["retention_class"], ["retention_class.code"]),
        sa.ForeignKeyConstraint(["destruction_list_id"], ["destruction_list.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("destruction_list_id", "kind", name="uq_archive_record_list_kind"),
    )

    # the retention clock of households stopped already: 3 years after their stop date
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT dossier.id, household.stop_date FROM dossier JOIN household "
        "ON household.id = dossier.household_id WHERE household.stop_date IS NOT NULL "
        "AND household.status = 'stopped'")).fetchall()
    for dossier_id, stop in rows:
        stop = stop if isinstance(stop, date) else date.fromisoformat(str(stop)[:10])
        conn.execute(sa.text("UPDATE dossier SET disposition_on = :d WHERE id = :id"),
                     {"d": _add_years(stop, 3), "id": dossier_id})


def downgrade() -> None:
    op.drop_table("archive_record")
    op.drop_index("ix_destruction_step_list_id", table_name="destruction_step")
    op.drop_table("destruction_step")
    op.drop_index("ix_destruction_item_dossier_id", table_name="destruction_item")
    op.drop_index("ix_destruction_item_list_id", table_name="destruction_item")
    op.drop_table("destruction_item")
    op.drop_index("ix_hold_lifted_at", table_name="hold")
    op.drop_index("ix_hold_household_id", table_name="hold")
    op.drop_table("hold")
    op.drop_index("ix_retention_change_dossier_id", table_name="retention_change")
    op.drop_table("retention_change")
    with op.batch_alter_table("document") as b:
        b.drop_constraint("fk_document_retention_class", type_="foreignkey")
        b.drop_column("destroyed_at")
    with op.batch_alter_table("dossier") as b:
        b.drop_index("ix_dossier_disposition_on")
        b.drop_constraint("fk_dossier_destruction_list", type_="foreignkey")
        b.drop_constraint("fk_dossier_retention_class", type_="foreignkey")
        b.drop_column("destruction_list_id")
        b.drop_column("destroyed_at")
        b.drop_column("disposition_on")
        b.drop_column("retention_class")
    with op.batch_alter_table("document_type") as b:
        b.drop_constraint("fk_document_type_retention_class", type_="foreignkey")
        b.drop_column("retention_class")
    op.drop_index("ix_destruction_list_status", table_name="destruction_list")
    op.drop_index("ix_destruction_list_region_code", table_name="destruction_list")
    op.drop_table("destruction_list")
    op.drop_table("retention_class")
