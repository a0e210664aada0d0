"""console: sessions a server can revoke (a session version per login) and every sign-in attempt

Revision ID: 0013
Revises: 0010

The per-login failure counter and lock (failed_logins, locked_until) give way to the attempts
table: the throttle counts failures per login and per address on the real clock, so a lock no
longer told which logins exist nor froze under a console started with --as-of.
"""
from alembic import op
import sqlalchemy as sa

import worker.times


revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('console_users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
        batch.drop_column('failed_logins')
        batch.drop_column('locked_until')
    op.create_table(
        'login_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('at', worker.times.LocalDateTime(), nullable=False),
        sa.Column('login', sa.String(length=200), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
    )
    op.create_index('ix_login_attempts_login_at', 'login_attempts', ['login', 'at'])
    op.create_index('ix_login_attempts_address_at', 'login_attempts', ['address', 'at'])


def downgrade() -> None:
    op.drop_index('ix_login_attempts_address_at', 'login_attempts')
    op.drop_index('ix_login_attempts_login_at', 'login_attempts')
    op.drop_table('login_attempts')
    with op.batch_alter_table('console_users') as batch:
        batch.add_column(sa.Column('locked_until', worker.times.LocalDateTime(), nullable=True))
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch.drop_column('session_version')
