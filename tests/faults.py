"""What a fault test saw, counted from the relay and the database — never from its asserts.

Each fault test counts its messages lost, doubled and stuck (and its slots, for the scheduler)
from what the relay received and what the outbox and the run ledger hold, records them with
``observe`` *before* asserting anything, and then asserts them.  ``bench/reliability.py`` runs the
fault tests with ``HOTLINE_FAULT_REPORT`` set and prints what they recorded, failed tests included.
"""
from __future__ import annotations

import json
import os
from collections import Counter

from sqlalchemy import select

from worker.db import session_scope
from worker.models import OutboxMessage, Run


def observe(fault: str, *, lost: int, doubled: int, stuck: int, **seen) -> dict:
    """Record one fault's counts (appended to ``$HOTLINE_FAULT_REPORT`` when set); returns them."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    record = {"fault": fault, "lost": lost, "doubled": doubled, "stuck": stuck, "test": test, **seen}
    path = os.environ.get("HOTLINE_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def at_relay(messages) -> Counter:
    """How many times the relay received each Message-ID (``SMTPSink.messages``)."""
    return Counter(str(m["Message-ID"]) for _, m in messages)


def outbox_rows(kind: str | None = None) -> list:
    with session_scope() as s:
        q = select(OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.recipient_email, OutboxMessage.kind,
                   OutboxMessage.state, OutboxMessage.last_error).order_by(OutboxMessage.id)
        if kind:
            q = q.where(OutboxMessage.kind == kind)
        return s.execute(q).all()


def mail_counts(messages, expected: set[str]) -> dict:
    """lost: EXPECTED Message-IDs the relay never got; doubled: deliveries beyond one per Message-ID;
    stuck: outbox rows left ``sending``."""
    received = at_relay(messages)
    return {"lost": len(expected - set(received)), "doubled": sum(n - 1 for n in received.values()),
            "stuck": sum(1 for r in outbox_rows() if r.state == "sending")}


def slot_counts(schedule: str) -> dict:
    """The ledger's rows of SCHEDULE: fired (not skipped), skipped, and runs left queued or running."""
    with session_scope() as s:
        states = Counter(s.scalars(select(Run.state).where(Run.schedule == schedule)))
    return {"fired": sum(n for st, n in states.items() if st != "skipped"), "skipped": states["skipped"],
            "unfinished": states["queued"] + states["running"]}
