"""The delivery outbox: incident changes, per-endpoint admission cursors, per-endpoint delivery state.

Revision ID: 0003_outbox
Revises: 0002_closed_loop
Create Date: 2026-03-02

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_outbox"
down_revision: str | None = "0002_closed_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)
# SQLite only gives AUTOINCREMENT to a column declared exactly INTEGER PRIMARY KEY.
SEQ_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("seq", SEQ_INTEGER, sa.Identity(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=True),
        sa.Column("time", UTC_DATETIME, nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_events"),
        sa.UniqueConstraint("id", name="uq_outbox_events_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_events_incident_id", "outbox_events", ["incident_id"])

    op.create_table(
        "outbox_cursors",
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("last_event_seq", SEQ_INTEGER, nullable=False),
        sa.PrimaryKeyConstraint("endpoint", name="pk_outbox_cursors"),
    )

    op.create_table(
        "outbox_deliveries",
        sa.Column("id", SEQ_INTEGER, sa.Identity(), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("event_seq", SEQ_INTEGER, nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("delivered_at", UTC_DATETIME, nullable=True),
        sa.Column("dead_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["outbox_events.seq"],
            name="fk_outbox_deliveries_event_seq_outbox_events",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_deliveries"),
        sa.UniqueConstraint("endpoint", "event_seq", name="uq_outbox_deliveries_endpoint_event_seq"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_outbox_deliveries_endpoint_incident_id_event_seq",
        "outbox_deliveries",
        ["endpoint", "incident_id", "event_seq"],
    )
    op.create_index(
        "ix_outbox_deliveries_endpoint_state_event_seq",
        "outbox_deliveries",
        ["endpoint", "state", "event_seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_deliveries_endpoint_state_event_seq", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_endpoint_incident_id_event_seq", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_cursors")
    op.drop_index("ix_outbox_events_incident_id", table_name="outbox_events")
    op.drop_table("outbox_events")
