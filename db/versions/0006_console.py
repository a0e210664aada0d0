"""console: logins and their actions; which tickets a document names, which documents a message carries

Revision ID: 0006
Revises: 0005

Documents stored before this revision name no tickets here (their context is gone); the messages
already queued are linked to the documents they carry by the attachment's hash.
"""
from alembic import op
import sqlalchemy as sa

import worker.times


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'document_tickets',
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id', ondelete='CASCADE'), nullable=False),
        sa.Column('ticket_id', sa.Integer(), sa.ForeignKey('tickets.id', ondelete='CASCADE'), nullable=False),
        sa.PrimaryKeyConstraint('document_id', 'ticket_id'),
    )
    op.create_index('ix_document_tickets_ticket', 'document_tickets', ['ticket_id'])
    op.create_table(
        'message_documents',
        sa.Column('message_id', sa.Integer(), sa.ForeignKey('outbox.id', ondelete='CASCADE'), nullable=False),
        sa.Column('document_id', sa.Integer(), sa.ForeignKey('documents.id', ondelete='CASCADE'), nullable=False),
        sa.PrimaryKeyConstraint('message_id', 'document_id'),
    )
    op.create_index('ix_message_documents_document', 'message_documents', ['document_id'])
    op.create_table(
        'console_users',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('email', sa.String(length=200), nullable=False, unique=True),
        sa.Column('password_hash', sa.String(length=200), nullable=True),
        sa.Column('operations', sa.Boolean(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', worker.times.LocalDateTime(), nullable=True),
        sa.Column('created_at', worker.times.LocalDateTime(), nullable=False),
        sa.Column('last_login_at', worker.times.LocalDateTime(), nullable=True),
    )
    op.create_table(
        'console_actions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('at', worker.times.LocalDateTime(), nullable=False),
        sa.Column('user_email', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('target', sa.String(length=100), nullable=False),
        sa.Column('result', sa.Text(), nullable=False),
    )
    op.create_index('ix_console_actions_at', 'console_actions', ['at'])
    # Messages already queued: the documents they carry, by the attachment's hash.
    bind = op.get_bind()
    versions = dict(bind.execute(sa.text("SELECT sha256, document_id FROM document_versions")).all())
    if versions:
        import json
        links = set()
        for mid, attachments in bind.execute(sa.text("SELECT id, attachments FROM outbox")).all():
            items = json.loads(attachments) if isinstance(attachments, str) else (attachments or [])
            links.update((mid, versions[a["sha256"]]) for a in items if a.get("sha256") in versions)
        if links:
            bind.execute(sa.text("INSERT INTO message_documents (message_id, document_id) VALUES (:m, :d)"),
                         [{"m": m, "d": d} for m, d in sorted(links)])


def downgrade() -> None:
    for table in ('console_actions', 'console_users', 'message_documents', 'document_tickets'):
        op.drop_table(table)
