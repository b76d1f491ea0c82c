"""SQL pieces the repositories share: an upsert in one statement, a grid-cell subtree, a page's bounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from models.db import Base


def check_page(limit: int, offset: int = 0) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def in_grid_subtree(column: InstrumentedAttribute[Any], grid_code: str) -> ColumnElement[bool]:
    # Codes are hierarchical (a descendant's code starts with its ancestor's), so a subtree is a prefix.
    # autoescape makes `%` and `_` in a code literal characters, not wildcards.
    return column.startswith(grid_code, autoescape=True)


def upsert(
    session: Session,
    model: type[Base],
    key: str,
    values: dict[str, Any],
    keep: Sequence[str] = (),
) -> None:
    """INSERT, or UPDATE every column but `keep` when the row with this `key` exists; one statement, no
    read-then-write race."""
    update = [name for name in values if name != key and name not in keep]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(model).values(**values)
        session.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=[key], set_={name: pg_stmt.excluded[name] for name in update}
            )
        )
    elif dialect == "sqlite":
        lite_stmt = sqlite.insert(model).values(**values)
        session.execute(
            lite_stmt.on_conflict_do_update(
                index_elements=[key], set_={name: lite_stmt.excluded[name] for name in update}
            )
        )
    else:  # pragma: no cover - other backends: correct under the write lock, racy across processes
        session.merge(model(**values))
