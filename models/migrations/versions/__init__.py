"""Alembic revision scripts (a package so that installs include them)."""
