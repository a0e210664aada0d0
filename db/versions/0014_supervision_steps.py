"""supervision close-out on line: each step of a 督办函 entry's answer (the unit's answer, the
centre's 销号 or return), with who and when

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

import worker.times


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'supervision_steps',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=16), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('at', worker.times.LocalDateTime(), nullable=False),
        sa.Column('by_email', sa.String(length=200), nullable=False),
        sa.Column('by_name', sa.String(length=100), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=True),
        sa.Column('file_sha256', sa.String(length=64), nullable=True),
        sa.Column('file_size', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id', 'stage'], ['supervision_items.ticket_id', 'supervision_items.stage'],
                                ondelete='CASCADE'),
    )
    op.create_index('ix_supervision_steps_entry', 'supervision_steps', ['ticket_id', 'stage', 'at'])
    op.create_index('ix_supervision_steps_at', 'supervision_steps', ['at'])


def downgrade() -> None:
    op.drop_index('ix_supervision_steps_at', 'supervision_steps')
    op.drop_index('ix_supervision_steps_entry', 'supervision_steps')
    op.drop_table('supervision_steps')
