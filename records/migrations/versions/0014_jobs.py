"""background jobs: the job table and the files of ingest jobs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

The queue (Huey) carries only a job's id; the job's state, lease, progress and per-file
outcomes live here (ingest.jobs). 0013 is another branch's; the lead rechains at merge.
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KIND = sa.Enum("ingest", "reindex", "verify", "reocr", name="jobkind", native_enum=False,
                length=10)
_STATE = sa.Enum("queued", "running", "failed", "done", name="jobstate", native_enum=False,
                 length=10)
_OUTCOME = sa.Enum("stored", "duplicate", "refused", name="fileoutcome", native_enum=False,
                   length=10)


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("state", _STATE, nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("submitted_as", sa.String(100), nullable=False),
        sa.Column("household", sa.String(40)),
        sa.Column("document_id", sa.Integer()),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(500)),
        sa.Column("error", sa.String(1000)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(100)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_job_submitted_by", "job", ["submitted_by"])
    op.create_index("ix_job_state_lease", "job", ["state", "lease_until"])
    op.create_table(
        "job_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("job.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("staged_ref", sa.String(64)),
        sa.Column("staged_key", sa.LargeBinary()),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("pages_total", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", _OUTCOME),
        sa.Column("sentence", sa.String(1000)),
        sa.Column("stored_document", sa.Integer()),
        sa.Column("key_id", sa.String(16)),
        sa.UniqueConstraint("job_id", "position", name="uq_job_file_position"),
    )
    op.create_index("ix_job_file_job_id", "job_file", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_job_file_job_id", table_name="job_file")
    op.drop_table("job_file")
    op.drop_index("ix_job_state_lease", table_name="job")
    op.drop_index("ix_job_submitted_by", table_name="job")
    op.drop_table("job")
