"""conversations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:51:03.824526
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dripsms.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", dripsms.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cursors")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", dripsms.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "status_callbacks",
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("received_at", dripsms.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_sid", "status", name=op.f("pk_status_callbacks")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", dripsms.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", dripsms.store.types.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", dripsms.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_notifications_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="step", nullable=False)
        )
        batch_op.add_column(sa.Column("to_phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("sent_at", dripsms.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("no_reply_handled_at", dripsms.store.types.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            "ix_messages_cancel_requested_at",
            ["cancel_requested_at"],
            unique=False,
            sqlite_where=sa.text("cancel_requested_at IS NOT NULL"),
            postgresql_where=sa.text("cancel_requested_at IS NOT NULL"),
        )

    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("from_phone", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.create_index("ix_replies_kind_received_at", ["kind", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_kind_received_at")
        batch_op.drop_column("reason")
        batch_op.drop_column("from_phone")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_cancel_requested_at")
        batch_op.drop_column("no_reply_handled_at")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("to_phone")
        batch_op.drop_column("kind")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_state_next_attempt_at")

    op.drop_table("notifications")
    op.drop_table("status_callbacks")
    op.drop_table("idempotency_keys")
    op.drop_table("cursors")
