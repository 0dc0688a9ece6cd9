"""an idle pass reads only what is due: indexes for its queries, the held count maintained

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:40:00

- ``ix_messages_state_cancel_requested_at``: the cancel requests among the scheduled
  messages, found through a partial index of the few rows that have one (it replaces
  ``ix_messages_cancel_requested_at``, which SQLite's planner passed over for the
  ``(state, due_at)`` index and then read every scheduled row).
- ``ix_messages_kind_state_due_at``: the reply windows not closed yet (a partial index of
  the rows whose ``no_reply_handled_at`` is NULL), so that closed windows of the past are
  not read again on every pass.
- ``ix_enrollments_state_id``: the rolling completion scan's slice of active enrollments,
  without reading the completed ones between them.
- ``message_counts`` and the triggers that keep it: every change of a message into or out
  of ``scheduled`` or ``handing_off`` appends its delta (see ``dripsms.store.held``).

The trigger text is written out here, not imported: a migration stays what it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

HELD = "('scheduled', 'handing_off')"

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER messages_held_insert AFTER INSERT ON messages
    WHEN NEW.state IN {HELD}
    BEGIN
        INSERT INTO message_counts (scheduled, handing_off)
        VALUES (NEW.state = 'scheduled', NEW.state = 'handing_off');
    END
    """,
    f"""
    CREATE TRIGGER messages_held_update AFTER UPDATE OF state ON messages
    WHEN OLD.state IS NOT NEW.state AND (OLD.state IN {HELD} OR NEW.state IN {HELD})
    BEGIN
        INSERT INTO message_counts (scheduled, handing_off)
        VALUES ((NEW.state = 'scheduled') - (OLD.state = 'scheduled'),
                (NEW.state = 'handing_off') - (OLD.state = 'handing_off'));
    END
    """,
    f"""
    CREATE TRIGGER messages_held_delete AFTER DELETE ON messages
    WHEN OLD.state IN {HELD}
    BEGIN
        INSERT INTO message_counts (scheduled, handing_off)
        VALUES (-(OLD.state = 'scheduled'), -(OLD.state = 'handing_off'));
    END
    """,
]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION dripsms_messages_held() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        d_scheduled integer := 0;
        d_handing_off integer := 0;
    BEGIN
        IF TG_OP <> 'DELETE' THEN
            d_scheduled := d_scheduled + (NEW.state = 'scheduled')::integer;
            d_handing_off := d_handing_off + (NEW.state = 'handing_off')::integer;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            d_scheduled := d_scheduled - (OLD.state = 'scheduled')::integer;
            d_handing_off := d_handing_off - (OLD.state = 'handing_off')::integer;
        END IF;
        IF d_scheduled <> 0 OR d_handing_off <> 0 THEN
            INSERT INTO message_counts (scheduled, handing_off)
            VALUES (d_scheduled, d_handing_off);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER messages_held_insert AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.state IN {HELD}) EXECUTE FUNCTION dripsms_messages_held()
    """,
    f"""
    CREATE TRIGGER messages_held_update AFTER UPDATE OF state ON messages FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          AND (OLD.state IN {HELD} OR NEW.state IN {HELD}))
    EXECUTE FUNCTION dripsms_messages_held()
    """,
    f"""
    CREATE TRIGGER messages_held_delete AFTER DELETE ON messages FOR EACH ROW
    WHEN (OLD.state IN {HELD}) EXECUTE FUNCTION dripsms_messages_held()
    """,
]

TRIGGERS = ("messages_held_insert", "messages_held_update", "messages_held_delete")


def upgrade() -> None:
    op.drop_index("ix_messages_cancel_requested_at", table_name="messages")
    op.create_index(
        "ix_messages_state_cancel_requested_at",
        "messages",
        ["state", "cancel_requested_at"],
        unique=False,
        sqlite_where=sa.text("cancel_requested_at IS NOT NULL"),
        postgresql_where=sa.text("cancel_requested_at IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_kind_state_due_at",
        "messages",
        ["kind", "state", "due_at"],
        unique=False,
        sqlite_where=sa.text("no_reply_handled_at IS NULL"),
        postgresql_where=sa.text("no_reply_handled_at IS NULL"),
    )
    op.create_index("ix_enrollments_state_id", "enrollments", ["state", "id"], unique=False)
    op.create_table(
        "message_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheduled", sa.Integer(), nullable=False),
        sa.Column("handing_off", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_counts")),
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    # What is there already, as the first row (the triggers count from here on).
    op.execute(
        "INSERT INTO message_counts (scheduled, handing_off) SELECT "
        "COALESCE(SUM(CASE WHEN state = 'scheduled' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN state = 'handing_off' THEN 1 ELSE 0 END), 0) FROM messages"
    )


def downgrade() -> None:
    for name in TRIGGERS:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON messages")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION dripsms_messages_held()")
    op.drop_table("message_counts")
    op.drop_index("ix_enrollments_state_id", table_name="enrollments")
    op.drop_index("ix_messages_kind_state_due_at", table_name="messages")
    op.drop_index("ix_messages_state_cancel_requested_at", table_name="messages")
    op.create_index(
        "ix_messages_cancel_requested_at",
        "messages",
        ["cancel_requested_at"],
        unique=False,
        sqlite_where=sa.text("cancel_requested_at IS NOT NULL"),
        postgresql_where=sa.text("cancel_requested_at IS NOT NULL"),
    )
