"""access and purpose: several roles per user, sign-in lock-out

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

``user_account.role`` (one role) becomes ``roles`` (sorted, comma-separated
role names); an existing single role is kept as it is, which is already the
stored form of a one-role set. Three columns track failed sign-ins.
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot alter columns in place: batch mode copies the table
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("role", new_column_name="roles", existing_type=sa.String(length=20),
                              type_=sa.String(length=100), existing_nullable=False)
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("first_failed_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    # the model gives the default; the server default was only for existing rows
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("failed_logins", existing_type=sa.Integer(), server_default=None,
                              existing_nullable=False)


def downgrade() -> None:
    # a user with several roles keeps the first (alphabetically) of them
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE user_account SET roles = split_part(roles, ',', 1)")
    else:
        op.execute("UPDATE user_account SET roles = substr(roles, 1, instr(roles || ',', ',') - 1)")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("first_failed_at")
        batch_op.drop_column("failed_logins")
        batch_op.alter_column("roles", new_column_name="role", existing_type=sa.String(length=100),
                              type_=sa.String(length=20), existing_nullable=False)
