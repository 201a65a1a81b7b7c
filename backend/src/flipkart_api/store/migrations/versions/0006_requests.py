"""requests: one row per answered prediction request, cache hits included

Revision ID: 0006
Revises: 0005

`predictions` holds one row per (image, model, text): an image sent again is answered from
its row and adds nothing there, so request counts over time need their own table. A row is
written with the prediction's own row (same transaction) or, for an answer from the store,
on its own. Existing predictions are not back-filled (their requests are unknown).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("prediction_id", sa.String(32), nullable=True),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("latency_total_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_requests_created_at", "requests", ["created_at"])


def downgrade() -> None:
    op.drop_table("requests")
