"""One case per situation: `incident_sightings`, the other cameras' sightings of an incident.

Revision ID: 0008_incident_sightings
Revises: 0007_video_checks
Create Date: 2026-12-05

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_incident_sightings"
down_revision: str | None = "0007_video_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident_sightings",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("camera_name", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("grid_code", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.Column("peak_count", sa.Integer(), nullable=True),
        sa.Column("peak_confidence", sa.Float(), nullable=True),
        sa.Column("snapshot_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_incident_sightings_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_sightings"),
    )
    op.create_index("ix_incident_sightings_incident_id", "incident_sightings", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_sightings_incident_id", table_name="incident_sightings")
    op.drop_table("incident_sightings")
