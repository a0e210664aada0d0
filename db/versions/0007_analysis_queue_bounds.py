"""analysis_queue: the second return and the finish, so a moment's queue is read by an index range

Revision ID: 0007
Revises: 0006

Filled here from the assignments; from then on ``worker.assignments.refresh`` keeps them.
"""
from alembic import op
import sqlalchemy as sa

import worker.times


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_queue') as batch:
        batch.add_column(sa.Column('twice_at', worker.times.LocalDateTime(), nullable=True))
        batch.add_column(sa.Column('finished_at', worker.times.LocalDateTime(), nullable=True))
    op.create_index('ix_analysis_finished', 'analysis_queue', ['finished_at'])
    op.execute("UPDATE analysis_queue SET finished_at = (SELECT a.finished_at FROM assignments a "
               "WHERE a.ticket_id = analysis_queue.ticket_id AND a.is_current = true), "
               "twice_at = (SELECT a.returned_at FROM assignments a WHERE a.ticket_id = analysis_queue.ticket_id "
               "AND a.returned_at IS NOT NULL ORDER BY a.returned_at LIMIT 1 OFFSET 1)")


def downgrade() -> None:
    op.drop_index('ix_analysis_finished', 'analysis_queue')
    with op.batch_alter_table('analysis_queue') as batch:
        batch.drop_column('finished_at')
        batch.drop_column('twice_at')
