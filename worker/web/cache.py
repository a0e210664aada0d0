"""Period metrics the console shows again and again (the unit page's 8 weeks and 6 months),
computed once per process and kept until the data they count changes.

A complete period's metrics change only when tickets or events are stored (an import: new
``ticket_events`` rows and an ``import_log`` row) or an escalation fires (``escalations``: each
unit's notices in the period); the newest id of each is read on every call — three primary-key
lookups — and a change drops everything kept.  ``hotline recompute`` (a calendar or rules change)
stores no event: a running console shows the figures before it until the next import or restart.  A period not yet
complete at the moment is computed afresh each time.
"""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..metrics import PeriodMetrics, compute
from ..models import Escalation, ImportLog, TicketEvent
from ..periods import Period

KEEP = 256   # periods kept (each a few kB per unit): years of weeks and months

_lock = threading.Lock()
_kept: dict[str, PeriodMetrics] = {}
_generation: tuple | None = None


def generation(session: Session) -> tuple:
    return (session.scalar(select(func.max(ImportLog.id))), session.scalar(select(func.max(TicketEvent.id))),
            session.scalar(select(func.max(Escalation.id))), session.get_bind().engine.url.render_as_string(hide_password=True))


def period_metrics(session: Session, period: Period, as_of: datetime) -> PeriodMetrics:
    """``compute(session, period)`` for a period complete at ``as_of``, kept until the next import."""
    global _generation
    if period.end_at > as_of:
        return compute(session, period, as_of=as_of)
    now = generation(session)
    with _lock:
        if now != _generation:
            _kept.clear()
            _generation = now
        found = _kept.get(period.key)
    if found is None:
        found = compute(session, period)
        with _lock:
            if len(_kept) >= KEEP:
                _kept.clear()
            _kept[period.key] = found
    return found
