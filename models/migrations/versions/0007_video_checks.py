"""Video checks of closures (视频核查): `incident_video_checks`.

Revision ID: 0007_video_checks
Revises: 0006_event_clips
Create Date: 2026-12-05

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_video_checks"
down_revision: str | None = "0006_event_clips"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident_video_checks",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("decided_at", UTC_DATETIME, nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("snapshot_path", sa.Text(), nullable=True),
        sa.Column("clip_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_incident_video_checks_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_video_checks"),
    )
    op.create_index("ix_incident_video_checks_incident_id", "incident_video_checks", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_video_checks_incident_id", table_name="incident_video_checks")
    op.drop_table("incident_video_checks")
