"""The store fixtures of tests/models (a fresh SQLite file and a PostgreSQL schema per test), for the outbox."""

from tests.models.conftest import db_url, postgres_admin, store  # noqa: F401 - fixtures, used by name

__all__ = ["db_url", "postgres_admin", "store"]
