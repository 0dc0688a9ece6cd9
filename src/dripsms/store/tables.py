"""The schema. Alembic migrations under ``migrations/`` must produce exactly this."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from dripsms.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(16), nullable=False, unique=True),
    Column("timezone", String(64)),
    Column("attributes", JSON, nullable=False),
    Column("opted_out_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sequence_versions = Table(
    "sequence_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("key", "digest"),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", ForeignKey("contacts.id"), nullable=False),
    Column("sequence_version_id", ForeignKey("sequence_versions.id"), nullable=False),
    Column("sequence_key", String(64), nullable=False),
    Column("external_id", String(128), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("anchor", String(40), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("end_reason", String(64)),
    # Paused from the console: its steps are not handed off until it is resumed.
    Column("paused_at", UTCDateTime),
    Index("ix_enrollments_contact_id", "contact_id"),
    # The rolling completion scan: active enrollments in id order, not the completed between.
    Index("ix_enrollments_state_id", "state", "id"),
    # The few paused enrollments, found without a scan by every claim of due messages.
    Index(
        "ix_enrollments_paused_at",
        "paused_at",
        sqlite_where=text("paused_at IS NOT NULL"),
        postgresql_where=text("paused_at IS NOT NULL"),
    ),
    # One active enrollment per contact, sequence and external id (two surgeries: two ids).
    Index(
        "uq_enrollments_active",
        "contact_id",
        "sequence_key",
        "external_id",
        unique=True,
        sqlite_where=text("state = 'active'"),
        postgresql_where=text("state = 'active'"),
    ),
)

# On PostgreSQL, migration 0005 sets fillfactor 70 and autovacuum at 2% of rows on messages
# (claim-hot: several updates per row), and fillfactor 50 on cursors (heartbeats).
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enrollment_id", ForeignKey("enrollments.id"), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("due_at", UTCDateTime),
    Column("body", Text),
    Column("sid", String(34), unique=True),
    Column("send_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("fence", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", UTCDateTime),
    Column("attempt_started_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),
    Column("cancel_requested_at", UTCDateTime),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    # Texts that are not a step of the sequence (a rule's `send`, a reprompt, a staff
    # alert) carry their body from the start; a staff alert goes to `to_phone`.
    Column("kind", String(16), nullable=False, server_default="step"),
    Column("to_phone", String(16)),
    Column("sent_at", UTCDateTime),
    Column("no_reply_handled_at", UTCDateTime),
    UniqueConstraint("enrollment_id", "step_id"),
    Index("ix_messages_state_due_at", "state", "due_at"),
    # Cancel requests are few among many scheduled messages: find them without a scan.
    Index(
        "ix_messages_state_cancel_requested_at",
        "state",
        "cancel_requested_at",
        sqlite_where=text("cancel_requested_at IS NOT NULL"),
        postgresql_where=text("cancel_requested_at IS NOT NULL"),
    ),
    # Reply windows not closed yet: the closed ones of the past are not read again.
    Index(
        "ix_messages_kind_state_due_at",
        "kind",
        "state",
        "due_at",
        sqlite_where=text("no_reply_handled_at IS NULL"),
        postgresql_where=text("no_reply_handled_at IS NULL"),
    ),
)

message_counts = Table(
    "message_counts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scheduled", Integer, nullable=False),
    Column("handing_off", Integer, nullable=False),
)
"""How many messages are ``scheduled`` and ``handing_off``: the sums of these rows. Triggers
on ``messages`` (migration 0004) append a row per change; ``dripsms.store.held`` reads and
folds them."""

replies = Table(
    "replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_sid", String(34), nullable=False, unique=True),
    Column("contact_id", ForeignKey("contacts.id")),
    Column("enrollment_id", ForeignKey("enrollments.id")),
    Column("step_id", String(64)),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("value", JSON),
    Column("received_at", UTCDateTime, nullable=False),
    Column("from_phone", String(16), nullable=False, server_default=""),
    Column("reason", Text),
    Index("ix_replies_enrollment_id", "enrollment_id"),
    Index("ix_replies_kind_received_at", "kind", "received_at"),
)

status_callbacks = Table(
    "status_callbacks",
    metadata,
    Column("message_sid", String(34), primary_key=True),
    Column("status", String(24), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
)
"""Each (MessageSid, MessageStatus) processed once, however often Twilio sends it."""

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enrollment_id", ForeignKey("enrollments.id")),
    Column("target", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_notifications_state_next_attempt_at", "state", "next_attempt_at"),
)
"""Signed webhook POSTs to notify targets, retried with backoff until acknowledged."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Answers to API requests sent with an Idempotency-Key, replayed for a repeat."""

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Small named positions, e.g. the last inbound message seen (missed-reply recovery)."""

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("contact_id", Integer),
    Column("enrollment_id", Integer),
    Column("message_id", Integer),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("cause", String(64), nullable=False),
    Column("detail", JSON),
    Index("ix_events_message_id", "message_id"),
    Index("ix_events_enrollment_id", "enrollment_id"),
)
"""Append-only: every state change, with its cause. Never updated, never deleted."""

# -- the care team's console (issue 9) -----------------------------------------------------

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
)
"""People who sign in to the console: a nurse views, acknowledges and replies; an admin also
manages operators and unenrolls. Passwords are stored as argon2 hashes only."""

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operator_id", ForeignKey("operators.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_operator_id", "operator_id"),
)
"""Signed-in browsers. ``id`` is the SHA-256 of the cookie's token: a copy of this table
signs nobody in."""

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("operator_id", Integer),
    Column("operator_email", String(254), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", JSON),
    Index("ix_audit_events_at", "at"),
)
"""Who viewed, exported, replied, acknowledged or unenrolled what, and when. Append-only."""

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("contact_id", ForeignKey("contacts.id"), nullable=False),
    Column("enrollment_id", ForeignKey("enrollments.id")),
    Column("step_id", String(64)),
    Column("target", String(64), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("rule", Text),
    Column("answer", Text),
    Column("value", JSON),
    Index("ix_alerts_at", "at"),
    Index("ix_alerts_contact_id", "contact_id"),
)
"""Every ``notify`` (an escalating answer, no reply, reprompts given up), whatever its
channels: what the console's inbox shows."""

inbox_acknowledgements = Table(
    "inbox_acknowledgements",
    metadata,
    Column("item", String(64), primary_key=True),
    Column("acknowledged_by", String(254), nullable=False),
    Column("acknowledged_at", UTCDateTime, nullable=False),
    Column("resolved_by", String(254)),
    Column("resolved_at", UTCDateTime),
)
"""Who acknowledged (and resolved) an inbox item; ``item`` names it, e.g. ``alert:12``."""
