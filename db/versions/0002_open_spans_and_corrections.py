"""open spans of every dispatch, late returns, import corrections, supervision stages by clock,
document numbers and issue dates, the sender of each message, per-message claims and holds, run re-sends, document versions, supervision deadlines

Revision ID: 0002
Revises: 0001

After this upgrade run ``hotline recompute``: it rebuilds the derived rows with the new clocks
(first callback, returns) and the exact open span of superseded dispatches.  The SQL below fills
``open_until`` well enough for the daily lists until then.
"""
from alembic import op
import sqlalchemy as sa
import worker.times


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_until', worker.times.LocalDateTime(), nullable=True))
        batch_op.create_index('ix_asg_returned', ['returned_at'], unique=False)
    op.execute("UPDATE assignments SET open_until = COALESCE(returned_at, finished_at, closed_at) "
               "WHERE open_until IS NULL")
    op.execute("UPDATE supervision_items SET stage = 'completion' WHERE stage = 'overdue'")
    with op.batch_alter_table('supervision_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline', sa.Date(), nullable=True))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('doc_year', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('doc_no', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_document_number', ['kind', 'doc_year', 'doc_no'])
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', worker.times.LocalDateTime(), nullable=True))
        batch_op.add_column(sa.Column('enqueues', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('message_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('operator', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('operated_at', worker.times.LocalDateTime(), nullable=True))
    op.create_table('document_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', worker.times.LocalDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'version', name='uq_document_version')
    )
    op.execute("INSERT INTO document_versions (document_id, version, path, sha256, run_id, created_at) "
               "SELECT id, 1, path, sha256, run_id, created_at FROM documents")
    op.create_table('import_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=500), nullable=False),
    sa.Column('finished_at', worker.times.LocalDateTime(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_stored', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('rows_refused', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('import_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=500), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('corrected_at', worker.times.LocalDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_corrections', schema=None) as batch_op:
        batch_op.create_index('ix_corrections_ticket', ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('import_corrections', schema=None) as batch_op:
        batch_op.drop_index('ix_corrections_ticket')
    op.drop_table('import_corrections')
    op.drop_table('document_versions')
    op.drop_table('import_log')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('message_id')
        batch_op.drop_column('enqueues')
        batch_op.drop_column('enqueued_at')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('sender_name')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('operator')
        batch_op.drop_column('operated_at')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_document_number', type_='unique')
        batch_op.drop_column('doc_no')
        batch_op.drop_column('doc_year')
        batch_op.drop_column('issued_on')
    with op.batch_alter_table('supervision_items', schema=None) as batch_op:
        batch_op.drop_column('deadline')
    op.execute("DELETE FROM supervision_items WHERE stage = 'reply'")
    op.execute("UPDATE supervision_items SET stage = 'overdue' WHERE stage = 'completion'")
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_asg_returned')
        batch_op.drop_column('open_until')
