"""Alembic environment, driven from code.

`models.db.upgrade_to_head` hands in an open connection (`config.attributes["connection"]`), so the engine's
tuning (SQLite WAL, busy timeout) applies to migrations too. Without one, the URL in the `sqlalchemy.url` main
option is used: offline mode writes SQL, online mode connects.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import models.accounts  # noqa: F401 - defines the account tables on Base.metadata (for autogenerate)
import models.audit  # noqa: F401 - the audit log table
import models.outbox_tables  # noqa: F401 - defines the outbox tables on Base.metadata (for autogenerate)
import models.sightings  # noqa: F401 - the other cameras' sightings of an incident
import models.video_checks  # noqa: F401 - the video checks of closures
from models.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no connection and no sqlalchemy.url: build the config with models.db.alembic_config"
        )
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
