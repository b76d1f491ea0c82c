"""The live-push log's retention watermark: the highest seq pruned so far, one row.

Revision ID: 0004_push_retention
Revises: 0003_outbox
Create Date: 2026-11-29

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_push_retention"
down_revision: str | None = "0003_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same as models.db.SeqInteger (push_messages.seq's type).
SEQ_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    table = op.create_table(
        "push_retention",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pruned_through_seq", SEQ_INTEGER, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_retention"),
    )
    op.bulk_insert(table, [{"id": 1, "pruned_through_seq": 0}])  # nothing pruned yet


def downgrade() -> None:
    op.drop_table("push_retention")
