"""SQLite: a covering index for the period metrics

Revision ID: 0004
Revises: 0003

On PostgreSQL the index on ``assignment_clocks.at`` INCLUDEs every column the metrics read, so a
period's grouped count never touches the table.  SQLite has no INCLUDE: the same columns go into
the key, after ``at``, and the range scan is index-only there too (the index on ``at`` alone is then
redundant and dropped).
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = ["at", "clock", "unit_code", "category_code", "current", "counted", "responded", "returned",
           "returned_twice", "resolved", "judged", "satisfied", "evaluated", "late", "redone"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_clock_cover", "assignment_clocks", COLUMNS)
    op.drop_index("ix_clock_at", table_name="assignment_clocks")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_clock_at", "assignment_clocks", ["at"])
    op.drop_index("ix_clock_cover", table_name="assignment_clocks")
