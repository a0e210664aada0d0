"""ticket_events: who contacted the caller and on which number; document_versions: companion files

Revision ID: 0010
Revises: 0009

Seed 004 asks each per-ticket report for 何人、何时、用何电话号码与来电人联系: an export may carry
联系 (contact) events with the person who called and the number called from (config/import-mapping.yaml
contact_person, contact_phone).  A document version may have files beside its PDF — the law push's
XLSX, a report's editable DOCX — each kept with its SHA-256 (``companions``: suffix → digest).
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket_events', sa.Column('contact_person', sa.String(100), nullable=True))
    op.add_column('ticket_events', sa.Column('contact_phone', sa.String(40), nullable=True))
    op.add_column('document_versions', sa.Column('companions', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('document_versions', 'companions')
    op.drop_column('ticket_events', 'contact_phone')
    op.drop_column('ticket_events', 'contact_person')
