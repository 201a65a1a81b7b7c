"""feedback.source (who gave the label) and server_secrets (the feedback-token key)

Revision ID: 0004
Revises: 0003

`ADD COLUMN` with a server default, in place on SQLite and PostgreSQL: the feedback written
before this revision (when anyone could write it) is marked `unverified`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "feedback",
        sa.Column("source", sa.String(32), nullable=False, server_default="unverified"),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    with op.batch_alter_table("feedback") as batch:  # SQLite before 3.35 has no DROP COLUMN
        batch.drop_column("source")
