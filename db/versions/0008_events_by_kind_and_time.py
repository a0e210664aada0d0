"""ticket_events: an index by (kind, at) in place of (unit_code, at)

Revision ID: 0008
Revises: 0007

Three daily jobs read events of one kind in a window of time — the reviews passed (ticket
reports), the redos since the last list (units' daily lists), the unresolved callbacks
(supervision letters) — and with no index leading on the kind each was a sequential scan of the
whole history: 1.2 s at 2 M tickets for one ticket-reports run, more every day.  No query reads
events by unit: the (unit_code, at) index only cost every import its upkeep.
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_events_unit_at', 'ticket_events')
    op.create_index('ix_events_kind_at', 'ticket_events', ['kind', 'at'])


def downgrade() -> None:
    op.drop_index('ix_events_kind_at', 'ticket_events')
    op.create_index('ix_events_unit_at', 'ticket_events', ['unit_code', 'at'])
