"""A PostgreSQL schema of a test's own, for the API tests that need what a cluster shares (the models tests have
their own `db_url` fixture); skipped where no PostgreSQL answers, failed where XUELIANG_TEST_POSTGRES_URL names one
that does not."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.models.conftest import DEFAULT_POSTGRES_URL


def postgres_url() -> str:
    return os.environ.get("XUELIANG_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextmanager
def own_postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL on a new schema, dropped on exit; skipped (or failed, see above) where the server is away."""
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    schema = f"xl_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        if "XUELIANG_TEST_POSTGRES_URL" in os.environ:
            pytest.fail(f"XUELIANG_TEST_POSTGRES_URL is set but the server is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL at {postgres_url()}: {exc}")
    url = make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(name="postgres_schema_url")
def postgres_schema_url_fixture() -> Iterator[str]:
    """A PostgreSQL URL on a schema of this test's own (dropped afterwards)."""
    with own_postgres_schema() as url:
        yield url
