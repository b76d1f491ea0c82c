"""The closed loop: who is handling an incident, when its status changed and was resolved, whether its overdue
notice went out, and the history of every step.

Revision ID: 0002_closed_loop
Revises: 0001_initial
Create Date: 2026-03-02

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_closed_loop"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)
# SQLite only gives AUTOINCREMENT to a column declared exactly INTEGER PRIMARY KEY.
SEQ_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NEW_INCIDENT_COLUMNS = (
    ("status_changed_at", UTC_DATETIME),
    ("resolved_at", UTC_DATETIME),
    ("assignee_department", sa.String()),
    ("assignee_staff", sa.String()),
    ("overdue_notified_at", UTC_DATETIME),
)


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place (batch mode copies the table only when it must).
    with op.batch_alter_table("incidents") as batch:
        for name, column_type in NEW_INCIDENT_COLUMNS:
            batch.add_column(sa.Column(name, column_type, nullable=True))
    op.create_index("ix_incidents_deadline", "incidents", ["deadline"])

    op.create_table(
        "incident_transitions",
        sa.Column("id", SEQ_INTEGER, sa.Identity(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("seq", SEQ_INTEGER, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_status", sa.String(), nullable=False),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("actor_role", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("department", sa.String(), nullable=True),
        sa.Column("staff", sa.String(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_incident_transitions_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_transitions"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_incident_transitions_incident_id", "incident_transitions", ["incident_id"])
    op.create_index("ix_incident_transitions_to_status", "incident_transitions", ["to_status"])


def downgrade() -> None:
    op.drop_index("ix_incident_transitions_to_status", table_name="incident_transitions")
    op.drop_index("ix_incident_transitions_incident_id", table_name="incident_transitions")
    op.drop_table("incident_transitions")
    op.drop_index("ix_incidents_deadline", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        for name, _ in reversed(NEW_INCIDENT_COLUMNS):
            batch.drop_column(name)
