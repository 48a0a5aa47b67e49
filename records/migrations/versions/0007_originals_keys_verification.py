"""originals kept, key ids per row, key rotations, a keyed audit chain, verification runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

- ``document.original_*``: the file as received, stored encrypted beside the archival PDF.
  Documents ingested before have none (verification notes it, it does not fail).
- ``key_id`` on every row that holds wrapped data keys or sealed / blind-indexed values:
  which master key made them. NULL on existing rows: the key current then.
- ``household_certificate.certificate_no_sealed``: the number sealed, so that a key
  rotation can compute its blind index again (numbers recorded before have none).
- ``audit_event.scheme`` / ``key_id``: how each link was made. Every existing event keeps
  its plain SHA-256 link (``sha256``); the first event hudang appends after this migration
  switches the log to HMAC-SHA256 links (``records.audit``), recorded in ``audit_head``.
- ``key_rotation``: progress of ``hudang key rotate``; ``verification_run``: reports of
  ``hudang verify``.
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEY_ID_TABLES = ("document", "page", "household", "household_certificate")


def upgrade() -> None:
    with op.batch_alter_table("document") as b:
        b.add_column(sa.Column("original_ref", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("original_key", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("original_size", sa.Integer(), nullable=True))
    for table in _KEY_ID_TABLES:
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    with op.batch_alter_table("household_certificate") as b:
        b.add_column(sa.Column("certificate_no_sealed", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("audit_event") as b:
        b.add_column(sa.Column("scheme", sa.String(length=20), nullable=False,
                               server_default="sha256"))
        b.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    with op.batch_alter_table("audit_head") as b:
        b.add_column(sa.Column("keyed_from", sa.Integer(), nullable=True))
        b.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    op.create_table(
        "key_rotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("old_key", sa.String(length=16), nullable=False),
        sa.Column("new_key", sa.String(length=16), nullable=False),
        sa.Column("state", sa.Enum("running", "done", name="rotationstate",
                                   native_enum=False, length=10), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "verification_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("verification_run")
    op.drop_table("key_rotation")
    with op.batch_alter_table("audit_head") as b:
        b.drop_column("mac")
        b.drop_column("key_id")
        b.drop_column("keyed_from")
    with op.batch_alter_table("audit_event") as b:
        b.drop_column("key_id")
        b.drop_column("scheme")
    with op.batch_alter_table("household_certificate") as b:
        b.drop_column("certificate_no_sealed")
    for table in _KEY_ID_TABLES:
        with op.batch_alter_table(table) as b:
            b.drop_column("key_id")
    with op.batch_alter_table("document") as b:
        b.drop_column("original_size")
        b.drop_column("original_key")
        b.drop_column("original_ref")
