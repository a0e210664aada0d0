"""clock_days: the clock rows per day, unit and clock, for the period metrics

Revision ID: 0005
Revises: 0004

Filled here from the clock rows; from then on ``worker.assignments.refresh`` keeps it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FLAGS = ["counted", "responded", "returned", "returned_twice", "resolved", "judged", "satisfied", "evaluated",
         "late", "redone"]


def upgrade() -> None:
    op.create_table(
        'clock_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('clock', sa.SmallInteger(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        *[sa.Column(f, sa.Integer(), nullable=False) for f in FLAGS],
        sa.PrimaryKeyConstraint('day', 'unit_code', 'clock'),
    )
    sums = ", ".join(f"SUM({f})" for f in FLAGS)
    op.execute(f"INSERT INTO clock_days (day, unit_code, clock, rows, {', '.join(FLAGS)}) "
               f"SELECT date(at), unit_code, clock, COUNT(*), {sums} FROM assignment_clocks "
               f"GROUP BY date(at), unit_code, clock")


def downgrade() -> None:
    op.drop_table('clock_days')
