"""Store fixtures: every test runs against a fresh SQLite file and against PostgreSQL in a schema of its own.

PostgreSQL comes from XUELIANG_TEST_POSTGRES_URL (default: the local trust-auth server, database `test`). Each test
gets a new schema (set as the connection's search_path, so the Alembic version table lives there too) that is
dropped afterwards, so parallel or repeated runs never see each other's rows. When the default server is not
reachable the PostgreSQL cases are skipped; when the variable is set explicitly, an unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from models.store import Store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_base_url() -> str:
    return os.environ.get("XUELIANG_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the test server, for creating and dropping schemas."""
    engine = create_engine(
        _postgres_base_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means "no server here"
        engine.dispose()
        if "XUELIANG_TEST_POSTGRES_URL" in os.environ:
            pytest.fail(f"XUELIANG_TEST_POSTGRES_URL is set but the server is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL at {DEFAULT_POSTGRES_URL}: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database. SQLite's parent folders do not exist yet: the store must create them."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'not' / 'yet' / 'xueliang.db'}"
        return

    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"xl_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(_postgres_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    store = Store(db_url)
    store.migrate()
    try:
        yield store
    finally:
        store.close()
