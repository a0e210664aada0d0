"""the worker that holds a run

Revision ID: 0019
Revises: 0017

Supervision's letters are rendered by runs of their own, spread over the worker processes
(``worker/tasks/escalation.py``): the ledger says which process (``host:pid``) took each run, so
an operator sees where a run went (``hotline runs``) and a failure can be looked for in that
process's log.
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("worker")
