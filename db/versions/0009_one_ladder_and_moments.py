"""One ladder per unit, and the derived rows as of a moment

Revision ID: 0009
Revises: 0008

- ``tickets.last_event_at`` and ``tickets.life_class`` (with an index on (life_class, received_at)):
  the tickets with an event after a moment are found among those received shortly before it
  (``worker.asof``).  Filled here from the events; every refresh keeps them.
- ``ladder_evaluations``: the periods the ladder evaluated and when.  Filled here with every period
  already in ``week_results``, at the period's end (the best knowledge of an older database).
- ``documents.issued_at``: the moment a document speaks of, kept when it is rendered again (documents
  issued before have none: rendered again, they speak of the run's moment).
- ``escalations.state`` (issued | superseded) and ``escalations.cites_id`` (the tier a tier follows):
  tiers already issued stay as they were, as issued.
"""
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import worker.times

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _life_class(received, last) -> int:
    seconds, k = (last - received).total_seconds(), 0
    while k < 10 and seconds > (1 << k) * 86400:
        k += 1
    return k


def _as_datetime(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('last_event_at', worker.times.LocalDateTime(), nullable=True))
        batch.add_column(sa.Column('life_class', sa.SmallInteger(), nullable=True))
    op.create_index('ix_tickets_life', 'tickets', ['life_class', 'received_at'])
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('issued_at', worker.times.LocalDateTime(), nullable=True))
    op.create_table('ladder_evaluations',
                    sa.Column('period_key', sa.String(20), primary_key=True),
                    sa.Column('evaluated_at', worker.times.LocalDateTime(), nullable=False))
    with op.batch_alter_table('escalations') as batch:
        batch.add_column(sa.Column('state', sa.String(16), nullable=False, server_default='issued'))
        batch.add_column(sa.Column('cites_id', sa.Integer(), sa.ForeignKey('escalations.id',
                                                                           name='fk_escalations_cites'),
                                   nullable=True))

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT t.id, t.received_at, max(e.at) FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id "
        "GROUP BY t.id, t.received_at")).all()
    update = sa.text("UPDATE tickets SET last_event_at = :last, life_class = :life WHERE id = :id")
    batch_rows = []
    for tid, received, last in rows:
        received, last = _as_datetime(received), _as_datetime(last)
        batch_rows.append({"id": tid, "last": last, "life": _life_class(received, last)})
        if len(batch_rows) >= 5000:
            conn.execute(update, batch_rows)
            batch_rows = []
    if batch_rows:
        conn.execute(update, batch_rows)

    from worker.periods import parse_key
    keys = [k for (k,) in conn.execute(sa.text("SELECT DISTINCT period_key FROM week_results"))]
    if keys:
        conn.execute(sa.text("INSERT INTO ladder_evaluations (period_key, evaluated_at) VALUES (:k, :at)"),
                     [{"k": k, "at": parse_key(k).end_at} for k in keys])


def downgrade() -> None:
    with op.batch_alter_table('escalations') as batch:
        batch.drop_column('cites_id')
        batch.drop_column('state')
    op.drop_table('ladder_evaluations')
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('issued_at')
    op.drop_index('ix_tickets_life', 'tickets')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('life_class')
        batch.drop_column('last_event_at')
