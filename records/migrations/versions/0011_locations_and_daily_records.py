"""physical locations (cabinet, box, folder; moves) and daily-management records (volumes)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

A document now lies in a household's dossier or in a region's volume of
daily-management records (日常管理档案) of one year: ``document.dossier_id``
becomes nullable, ``volume_id`` is added, and a check keeps exactly one of the
two. Document types get the flag ``daily``, and the daily-management types are
seeded (``records.doctypes.DAILY_TYPES``). Dossiers and volumes get a current
container; every move is a ``location_move`` row.

On SQLite the document table is rebuilt (batch mode); ``records.db.upgrade``
runs migrations with foreign keys off, so that no row pointing at a document is
touched while it is.
"""
from alembic import op
import sqlalchemy as sa

from records.doctypes import DAILY_TYPES

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KIND = sa.Enum("cabinet", "box", "folder", name="containerkind", native_enum=False, length=10)


def upgrade() -> None:
    op.create_table(
        "container",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["container.id"]),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_container_parent_id", "container", ["parent_id"])
    op.create_index("ix_container_region_code", "container", ["region_code"])

    op.create_table(
        "volume",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("archival_code", sa.String(length=120), nullable=True),
        sa.Column("retention_class", sa.String(length=40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"]),
        sa.ForeignKeyConstraint(["container_id"], ["container.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("archival_code"),
        sa.UniqueConstraint("region_code", "year", name="uq_volume_region_year"),
    )
    op.create_index("ix_volume_region_code", "volume", ["region_code"])
    op.create_index("ix_volume_container_id", "volume", ["container_id"])

    with op.batch_alter_table("dossier") as b:
        b.add_column(sa.Column("container_id", sa.Integer(), nullable=True))
        b.create_foreign_key("fk_dossier_container_id", "container", ["container_id"], ["id"])
        b.create_index("ix_dossier_container_id", ["container_id"])

    with op.batch_alter_table("document") as b:
        b.alter_column("dossier_id", existing_type=sa.Integer(), nullable=True)
        b.add_column(sa.Column("volume_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("month", sa.Integer(), nullable=True))
        b.add_column(sa.Column("retention_class", sa.String(length=40), nullable=True))
        b.create_foreign_key("fk_document_volume_id", "volume", ["volume_id"], ["id"])
        b.create_index("ix_document_volume_id", ["volume_id"])
        b.create_unique_constraint("uq_document_volume_seq", ["volume_id", "seq"])
        b.create_unique_constraint("uq_document_volume_sha256", ["volume_id", "sha256"])
        b.create_check_constraint("ck_document_one_home",
                                  "(dossier_id IS NULL) <> (volume_id IS NULL)")

    op.create_table(
        "location_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=True),
        sa.Column("volume_id", sa.Integer(), nullable=True),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.Column("from_id", sa.Integer(), nullable=True),
        sa.Column("to_id", sa.Integer(), nullable=True),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("moved_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        # a sum of CASEs, not of booleans, so that PostgreSQL takes it too (SQLite
        # catalogues made before said the same with booleans)
        sa.CheckConstraint("(CASE WHEN dossier_id IS NULL THEN 0 ELSE 1 END) "
                           "+ (CASE WHEN volume_id IS NULL THEN 0 ELSE 1 END) "
                           "+ (CASE WHEN container_id IS NULL THEN 0 ELSE 1 END) = 1",
                           name="ck_location_move_one_thing"),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.ForeignKeyConstraint(["volume_id"], ["volume.id"]),
        sa.ForeignKeyConstraint(["container_id"], ["container.id"]),
        sa.ForeignKeyConstraint(["from_id"], ["container.id"]),
        sa.ForeignKeyConstraint(["to_id"], ["container.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("dossier_id", "volume_id", "container_id", "from_id", "to_id"):
        op.create_index(f"ix_location_move_{column}", "location_move", [column])

    with op.batch_alter_table("document_type") as b:
        b.add_column(sa.Column("daily", sa.Boolean(), nullable=False,
                               server_default=sa.false()))
    document_type = sa.table(
        "document_type", sa.column("code", sa.String), sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String), sa.column("sort_order", sa.Integer),
        sa.column("required", sa.Boolean), sa.column("daily", sa.Boolean))
    conn = op.get_bind()
    last = conn.execute(sa.select(sa.func.max(document_type.c.sort_order))).scalar() or 0
    taken = {code for (code,) in conn.execute(sa.select(document_type.c.code))}
    taken_names = {name for (name,) in conn.execute(sa.select(document_type.c.name_zh))}
    rows = [t for t in DAILY_TYPES if t.code not in taken and t.name_zh not in taken_names]
    if rows:
        op.bulk_insert(document_type, [
            {"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en,
             "sort_order": last + 1 + i, "required": False, "daily": True}
            for i, t in enumerate(rows)])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM document_type WHERE daily"))
    with op.batch_alter_table("document_type") as b:
        b.drop_column("daily")
    for column in ("dossier_id", "volume_id", "container_id", "from_id", "to_id"):
        op.drop_index(f"ix_location_move_{column}", table_name="location_move")
    op.drop_table("location_move")
    op.execute(sa.text("DELETE FROM page WHERE document_id IN "
                       "(SELECT id FROM document WHERE volume_id IS NOT NULL)"))
    op.execute(sa.text("DELETE FROM document WHERE volume_id IS NOT NULL"))
    with op.batch_alter_table("document") as b:
        b.drop_constraint("ck_document_one_home", type_="check")
        b.drop_constraint("uq_document_volume_sha256", type_="unique")
        b.drop_constraint("uq_document_volume_seq", type_="unique")
        b.drop_index("ix_document_volume_id")
        b.drop_constraint("fk_document_volume_id", type_="foreignkey")
        b.drop_column("retention_class")
        b.drop_column("month")
        b.drop_column("volume_id")
        b.alter_column("dossier_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("dossier") as b:
        b.drop_index("ix_dossier_container_id")
        b.drop_constraint("fk_dossier_container_id", type_="foreignkey")
        b.drop_column("container_id")
    op.drop_index("ix_volume_container_id", table_name="volume")
    op.drop_index("ix_volume_region_code", table_name="volume")
    op.drop_table("volume")
    op.drop_index("ix_container_region_code", table_name="container")
    op.drop_index("ix_container_parent_id", table_name="container")
    op.drop_table("container")
