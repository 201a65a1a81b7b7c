"""predictions.model_name → predictions.architecture (the contract's word for it)

Revision ID: 0003
Revises: 0002

A plain `ALTER TABLE ... RENAME ... TO ...` on both SQLite (3.25+) and PostgreSQL: rows stay in
place. Not batch mode, which on SQLite would copy the table and drop the old one, and the drop
would cascade to the feedback rows.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("predictions", "model_name", new_column_name="architecture")


def downgrade() -> None:
    op.alter_column("predictions", "architecture", new_column_name="model_name")
