"""the care team's console: operators, sessions, audit, alerts, inbox acknowledgements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dripsms.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = dripsms.store.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("disabled_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_console_sessions_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        "ix_console_sessions_operator_id", "console_sessions", ["operator_id"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("operator_email", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_alerts_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"], ["enrollments.id"], name=op.f("fk_alerts_enrollment_id_enrollments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_at", "alerts", ["at"], unique=False)
    op.create_index("ix_alerts_contact_id", "alerts", ["contact_id"], unique=False)
    op.create_table(
        "inbox_acknowledgements",
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=254), nullable=False),
        sa.Column("acknowledged_at", UTC(), nullable=False),
        sa.Column("resolved_by", sa.String(length=254), nullable=True),
        sa.Column("resolved_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("item", name=op.f("pk_inbox_acknowledgements")),
    )


def downgrade() -> None:
    op.drop_table("inbox_acknowledgements")
    op.drop_index("ix_alerts_contact_id", table_name="alerts")
    op.drop_index("ix_alerts_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_console_sessions_operator_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("operators")
