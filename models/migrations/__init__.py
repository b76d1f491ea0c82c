"""Alembic migrations for the store (configured in code: see `models.db.alembic_config`)."""
