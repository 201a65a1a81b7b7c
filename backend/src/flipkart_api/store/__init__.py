"""Prediction store: SQLAlchemy 2 models, Alembic migrations, queries and monitoring figures."""
