"""Event clips: an incident's MP4 on disk (`incidents.clip_path`).

Revision ID: 0006_event_clips
Revises: 0005_accounts_audit
Create Date: 2026-12-01

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_event_clips"
down_revision: str | None = "0005_accounts_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("clip_path", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("clip_path")
