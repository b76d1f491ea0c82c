"""Initial schema: incidents, the push-message log, camera statuses.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-22

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)
# SQLite only gives AUTOINCREMENT to a column declared exactly INTEGER PRIMARY KEY.
SEQ_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("category_code", sa.String(), nullable=False),
        sa.Column("category_name", sa.String(), nullable=False),
        sa.Column("category_group", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("grid_code", sa.String(), nullable=False),
        sa.Column("grid_path", sa.JSON(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("camera_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.Column("peak_count", sa.Integer(), nullable=True),
        sa.Column("peak_confidence", sa.Float(), nullable=True),
        sa.Column("owner_department", sa.String(), nullable=False),
        sa.Column("deadline", UTC_DATETIME, nullable=False),
        sa.Column("snapshot_path", sa.Text(), nullable=True),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index(
        "ix_incidents_grid_code",
        "incidents",
        ["grid_code"],
        postgresql_ops={"grid_code": "varchar_pattern_ops"},
    )
    for column in ("category_code", "status", "camera_id", "opened_at", "closed_at"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])

    op.create_table(
        "push_messages",
        sa.Column("seq", SEQ_INTEGER, sa.Identity(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("camera_id", sa.String(), nullable=True),
        sa.Column("grid_code", sa.String(), nullable=True),
        sa.Column("category_code", sa.String(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_push_messages"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "camera_statuses",
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("frames_decoded", sa.BigInteger(), nullable=False),
        sa.Column("frames_dropped", sa.BigInteger(), nullable=False),
        sa.Column("analysed_fps", sa.Float(), nullable=True),
        sa.Column("grid_code", sa.String(), nullable=True),
        sa.Column("last_message_seq", SEQ_INTEGER, nullable=False),
        sa.PrimaryKeyConstraint("camera_id", name="pk_camera_statuses"),
    )


def downgrade() -> None:
    op.drop_table("camera_statuses")
    op.drop_table("push_messages")
    for column in ("closed_at", "opened_at", "camera_id", "status", "category_code", "grid_code"):
        op.drop_index(f"ix_incidents_{column}", table_name="incidents")
    op.drop_table("incidents")
