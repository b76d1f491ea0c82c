"""The cluster deployment: `cluster_nodes` (the Ray nodes hosting cameras) and `camera_placements` (which node
serves each camera).

Revision ID: 0009_cluster
Revises: 0008_incident_sightings
Create Date: 2026-12-05

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_cluster"
down_revision: str | None = "0008_incident_sightings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("node_id", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("alive", sa.Boolean(), nullable=False),
        sa.Column("cpus", sa.Float(), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("rss_mb", sa.Float(), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("camera_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("lost_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("node_id", name="pk_cluster_nodes"),
    )
    op.create_table(
        "camera_placements",
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("node_id", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("assigned_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("camera_id", name="pk_camera_placements"),
    )


def downgrade() -> None:
    op.drop_table("camera_placements")
    op.drop_table("cluster_nodes")
