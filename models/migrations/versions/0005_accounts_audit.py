"""Users and API keys in the store, revoked login sessions, login throttling, the audit log.

Revision ID: 0005_accounts_audit
Revises: 0004_push_retention
Create Date: 2026-12-01

Written by hand as a frozen snapshot: it must not import the ORM models, which will keep changing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_accounts_audit"
down_revision: str | None = "0004_push_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same storage as models.db.UTCDateTime (timestamptz on PostgreSQL, naive-UTC text on SQLite).
UTC_DATETIME = sa.DateTime(timezone=True)
# SQLite only gives AUTOINCREMENT to a column declared exactly INTEGER PRIMARY KEY.
SEQ_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("grid", sa.String(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("tokens_valid_after", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
    )
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("key_sha256", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("grid", sa.String(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("revoked_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_api_keys"),
        sa.UniqueConstraint("key_sha256", name="uq_api_keys_key_sha256"),
    )
    op.create_table(
        "revoked_sessions",
        sa.Column("sid", sa.String(), nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=False),
        sa.Column("forget_after", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_revoked_sessions"),
    )
    op.create_index("ix_revoked_sessions_forget_after", "revoked_sessions", ["forget_after"])
    op.create_table(
        "login_throttle",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTC_DATETIME, nullable=True),
        sa.Column("locked_until", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("kind", "name", name="pk_login_throttle"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", SEQ_INTEGER, sa.Identity(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("actor_kind", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("grid_code", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index(
        "ix_audit_events_grid_code",
        "audit_events",
        ["grid_code"],
        postgresql_ops={"grid_code": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("login_throttle")
    op.drop_index("ix_revoked_sessions_forget_after", table_name="revoked_sessions")
    op.drop_table("revoked_sessions")
    op.drop_table("api_keys")
    op.drop_table("users")
