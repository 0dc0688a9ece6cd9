"""PostgreSQL storage parameters of the claim-hot tables (no-op on SQLite)

Every message is updated several times on its way out (claimed, its intent recorded, its
answer recorded, then each status callback), and several workers claim at once. Each
update leaves a dead tuple behind; left to the defaults (autovacuum at 20% of a table)
a table of a million rows carries 200,000 of them, and the claim query's index range
walks over their entries.

- ``fillfactor``: leave room on each page of ``messages`` (and of the tiny, constantly
  rewritten ``cursors``: heartbeats, recovery positions) so that an update which changes
  no indexed column (the recorded intent, a status re-check's ``next_attempt_at``) is a
  HOT update: written on the same page, no index entry added, its dead tuple pruned
  without a vacuum. It applies to pages written from now on (a ``VACUUM FULL`` rewrites
  the old ones).
- ``autovacuum_*_scale_factor``: vacuum and analyze the claim-hot tables after 2% (5% for
  the notify outbox) of their rows changed, not 20%, so dead tuples stay a small fraction
  of the table however large it grows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STORAGE = {
    "messages": {
        "fillfactor": "70",
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_insert_scale_factor": "0.05",
    },
    "notifications": {
        "fillfactor": "90",
        "autovacuum_vacuum_scale_factor": "0.05",
        "autovacuum_analyze_scale_factor": "0.05",
    },
    "cursors": {"fillfactor": "50"},
}
"""Storage parameters by table, in PostgreSQL's names."""


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return  # SQLite has no storage parameters: VACUUM is not needed for HOT pages there
    for table, parameters in STORAGE.items():
        values = ", ".join(f"{name} = {value}" for name, value in parameters.items())
        op.execute(f"ALTER TABLE {table} SET ({values})")


def downgrade() -> None:
    if not _postgresql():
        return
    for table, parameters in STORAGE.items():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(parameters)})")
