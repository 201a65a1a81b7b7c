"""predictions: the listing text (title, description), the listing used, the text's cache key,
the answer's per-input details; `image_sha256` nullable (text-only predictions); one row per
(image, model, text) instead of (image, model)

Revision ID: 0005
Revises: 0004

PostgreSQL changes the table in place. SQLite cannot drop a table constraint, so the table is
rebuilt (Alembic's batch mode: copy, drop, rename); dropping the old table would cascade to the
feedback rows (`PRAGMA foreign_keys=ON`, which cannot be turned off inside the migration's
transaction), so the feedback is copied aside first and put back after. Rows and feedback are
kept; the existing rows have no text (`text_key` '').
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_UNIQUE = ("uq_predictions_image_model", ["image_sha256", "run_id"])
NEW_UNIQUE = ("uq_predictions_input_model", ["image_sha256", "run_id", "text_key"])
FEEDBACK_ASIDE = "feedback_0005"


def _rebuild_predictions(change) -> None:
    """Apply `change(batch)` to `predictions`, its feedback rows kept on SQLite."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(f"CREATE TEMP TABLE {FEEDBACK_ASIDE} AS SELECT * FROM feedback")
    with op.batch_alter_table("predictions", recreate="always" if sqlite else "auto") as batch:
        change(batch)
    if sqlite:
        op.execute("DELETE FROM feedback")  # emptied by the cascade already
        op.execute(f"INSERT INTO feedback SELECT * FROM {FEEDBACK_ASIDE}")
        op.execute(f"DROP TABLE {FEEDBACK_ASIDE}")


def upgrade() -> None:
    def change(batch) -> None:
        batch.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("listing_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("text_key", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.alter_column("image_sha256", existing_type=sa.String(64), nullable=True)
        batch.drop_constraint(OLD_UNIQUE[0], type_="unique")
        batch.create_unique_constraint(*NEW_UNIQUE)

    _rebuild_predictions(change)


def downgrade() -> None:
    # Rows without an image, or a second row of an (image, model) pair, cannot be kept.
    op.execute("DELETE FROM predictions WHERE image_sha256 IS NULL OR text_key <> ''")

    def change(batch) -> None:
        batch.drop_constraint(NEW_UNIQUE[0], type_="unique")
        batch.create_unique_constraint(*OLD_UNIQUE)
        batch.alter_column("image_sha256", existing_type=sa.String(64), nullable=False)
        for column in ("details", "text_key", "listing_id", "description", "title"):
            batch.drop_column(column)

    _rebuild_predictions(change)
