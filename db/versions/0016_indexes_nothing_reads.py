"""indexes nothing reads, dropped

Revision ID: 0016
Revises: 0013

With every query of the service explained on half a year of history (tests/test_indexes.py), none
reads ``ix_asg_category`` (category, dispatched) or ``ix_tickets_category_code``; each import paid
their upkeep for every row (issue 33).  (``ix_asg_open_due``, which the issue also found unread, is
read by the law push: tickets replied in its window.)  Plain indexes: dropped and made again the
same way on SQLite and PostgreSQL.
"""
from alembic import op

revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None

DROPPED = (("ix_asg_category", "assignments", ["category_code", "dispatched_at"]),
           ("ix_tickets_category_code", "tickets", ["category_code"]))


def upgrade() -> None:
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
