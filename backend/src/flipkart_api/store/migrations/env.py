"""Alembic environment: runs on the connection handed over by `flipkart_api.store.database`."""

from alembic import context
from flipkart_api.store.tables import Base
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")


def run(conn) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # `alembic -x url=...` from a shell
    engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.connect() as conn:
        run(conn)
