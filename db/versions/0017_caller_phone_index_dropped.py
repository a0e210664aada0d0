"""the caller-phone index, dropped

Revision ID: 0017
Revises: 0016

Grading is now one UPDATE whose repeat rules are a CASE over the day's window (``worker.grading``),
and the repeat ledger reads the tickets of the window by received time: with every query of the
service explained on half a year of history (tests/test_indexes.py) none reads
``ix_tickets_caller_phone`` any more, and each import paid its upkeep for every ticket (issue 33).
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tickets_caller_phone", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_caller_phone", "tickets", ["caller_phone"])
