"""Derive the per-assignment rows from the event history.

A ticket's events are replayed in time order.  Each ``dispatched`` opens an assignment for the
receiving unit; the last dispatch that was not returned is the accountable one (``is_current``).
Other events apply to the newest assignment of the unit that recorded them, or, for events the
centre records (review, callback, redo, close), to the accountable assignment.

Conventions (documented defaults):
- ``finished_at`` is the time of the last reply that review did not send back (审核退回 reopens);
- a redo (重办) reopens the assignment and starts a new completion clock from the redo;
- an extension counts only with the caller's consent when the rules require it; the cap on the
  total is applied where the due time is computed (``rules.compute_deadlines``);
- the last callback on an assignment is the one 解决率/满意率 count, the first one the
  初次解决率/初次满意率;
- an assignment is *open at the unit* from its dispatch until it is returned, finished, closed or
  superseded by a new dispatch (``open_until``, NULL while still open); a dispatch later returned
  was open at the unit until the return (DOMAIN.md "Open at a moment");
- "returned two or more times" (同一事项回退 2 次以上) is charged to every unit that returned the
  ticket, once per unit (on its last return of it); the unit that finally accepts it is not.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .calendar import WorkCalendar
from .db import bulk_insert, table_of
from .models import (
    CLOCK_FLAGS,
    AnalysisItem,
    Assignment,
    AssignmentClock,
    Category,
    Clock,
    ClockDay,
    EventKind,
    Ticket,
    TicketEvent,
)
from .rules import DeadlineInput, Rules, compute_deadlines

E = EventKind
SATISFIED = ("satisfied", "basically_satisfied")  # 满意 and 基本满意 count as satisfied
SPAN_TOP = 10  # the last span class: open longer than 2**(SPAN_TOP - 1) = 512 days, no bound


def span_class(dispatched_at: datetime, finished_at: datetime) -> int:
    """The smallest k with finished_at - dispatched_at <= 2**k days (capped at ``SPAN_TOP``).

    An assignment of class k < SPAN_TOP open at a moment was dispatched less than 2**k days
    before it, so "open then" reads, per class, only the dispatches of that window: about twice
    the rows open then, however far back the moment lies (an interval stabbing query by
    powers of two, kept to plain B-tree indexes so it runs the same on SQLite and PostgreSQL).
    """
    seconds, k = (finished_at - dispatched_at).total_seconds(), 0
    while k < SPAN_TOP and seconds > (1 << k) * 86400:
        k += 1
    return k


def _new(ticket, event, seq: int) -> dict:
    return {
        "ticket_id": ticket["id"], "seq": seq, "unit_code": event["unit_code"], "category_code": ticket["category_code"],
        "source": ticket["source"], "urgent_kind": ticket["urgent_kind"], "dispatched_at": event["at"],
        "clock_started_at": event["at"], "signed_at": None, "returned_at": None, "return_reason": None,
        "suggested_unit_code": None, "first_replied_at": None, "finished_at": None, "reply_kind": None,
        "extended_days": 0, "plan_date": None, "callback_at": None, "satisfaction": None, "resolved": None,
        "first_callback_at": None, "first_satisfaction": None, "first_resolved": None,
        "redo_count": 0, "closed_at": None, "superseded_at": None}


def derive_ticket(ticket: dict, events: Iterable[dict], rules: Rules) -> list[dict]:
    """Assignments (without due times) for one ticket's events, oldest first."""
    rows: list[dict] = []
    current: dict | None = None
    for ev in sorted(events, key=lambda e: (e["at"], e["id"] or 0)):
        kind = ev["kind"]
        if kind == E.DISPATCHED:
            if current is not None:   # re-dispatched by the centre without a return (改派)
                current["superseded_at"] = ev["at"]
            current = _new(ticket, ev, len(rows) + 1)
            rows.append(current)
            continue
        target = current
        if ev["unit_code"]:
            own = [r for r in rows if r["unit_code"] == ev["unit_code"]]
            if own:
                target = own[-1]
        if target is None:
            continue
        if kind == E.SIGNED:
            target["signed_at"] = target["signed_at"] or ev["at"]
        elif kind == E.RETURNED:
            target.update(returned_at=ev["at"], return_reason=ev["reason"],
                          suggested_unit_code=ev["suggested_unit_code"])
            if target is current:
                current = None
        elif kind == E.REPLIED:
            target["first_replied_at"] = target["first_replied_at"] or ev["at"]
            target["finished_at"] = ev["at"]
            target["reply_kind"] = ev["reply_kind"]
            if ev["plan_date"]:
                target["plan_date"] = ev["plan_date"]
        elif kind == E.REVIEWED:
            if ev["review_passed"] is False:
                target["finished_at"] = None
        elif kind == E.EXTENDED:
            if ev["consent"] or not rules.extension_requires_consent:
                target["extended_days"] += max(0, ev["days"] or 0)
        elif kind == E.PLANNED:
            target["plan_date"] = ev["plan_date"]
        elif kind == E.CALLBACK:
            target.update(callback_at=ev["at"], satisfaction=ev["satisfaction"], resolved=ev["resolved"])
            if target["first_callback_at"] is None:
                target.update(first_callback_at=ev["at"], first_satisfaction=ev["satisfaction"],
                              first_resolved=ev["resolved"])
        elif kind == E.REDO:
            target["redo_count"] += 1
            target["finished_at"] = None
            target["closed_at"] = None
            target["clock_started_at"] = ev["at"]
        elif kind == E.CLOSED:
            target["closed_at"] = ev["at"]
    returns = sum(1 for r in rows if r["returned_at"] is not None)
    last_return_of_unit = {r["unit_code"]: r for r in rows if r["returned_at"] is not None}
    for r in rows:
        r["is_current"] = r is current
        ends = [t for t in (r["returned_at"], r["finished_at"], r["closed_at"], r["superseded_at"]) if t is not None]
        r["open_until"] = min(ends) if ends else None
        r["is_open"] = r["open_until"] is None
        r["span_class"] = None if r["is_open"] else span_class(r["dispatched_at"], r["open_until"])
        r["ticket_return_count"] = returns
        r["charged_returned_twice"] = returns >= 2 and last_return_of_unit.get(r["unit_code"]) is r
    return rows


def add_deadlines(rows: list[dict], cal: WorkCalendar, rules: Rules, law_codes: set[str]) -> None:
    """Fill the due times of many rows at once (vectorized), then the facts that depend on them."""
    if not rows:
        return
    col = lambda k, dt: np.array([r[k] for r in rows], dtype=dt)
    out = compute_deadlines(cal, rules, DeadlineInput(
        dispatched=col("dispatched_at", "datetime64[s]"), clock_start=col("clock_started_at", "datetime64[s]"),
        source=col("source", object), urgent_kind=col("urgent_kind", object),
        extended_days=col("extended_days", np.int64),
        plan_date=np.array([r["plan_date"] or "NaT" for r in rows], dtype="datetime64[D]")))
    reply = out["reply_due"].astype(object)
    completion = out["completion_due"].astype(object)
    until = out["return_until"].astype(object)
    response = np.timedelta64(rules.response_hours * 3600, "s").astype(object)
    for i, r in enumerate(rows):
        r["reply_due"] = reply[i]
        r["completion_due"] = completion[i]
        r["return_until"] = until[i]
        r["responded_in_time"] = r["signed_at"] is not None and r["signed_at"] - r["dispatched_at"] <= response
        r["returned_in_window"] = None if r["returned_at"] is None else r["returned_at"] <= until[i]
        r["law_enforcement"] = is_selected(r["category_code"], law_codes)


def is_selected(code: str, selected: set[str]) -> bool:
    """A listed 事项编码 selects itself and all its sub-codes (prefix match)."""
    return any(code.startswith(s) for s in selected)


def clock_rows(r: dict) -> list[dict]:
    """The ``assignment_clocks`` rows of one derived assignment (see ``worker.metrics``).

    Only counted assignments (not returned inside the window) count on the reply, due and
    callback clocks; "late" needs no reference time because the due time itself lies before the
    end of any period that counts it: finished after it, or not finished at all, is late.  On the
    return clock "late" marks a return made after the return window (超时回退).
    """
    counted = r["returned_in_window"] is not True
    base = dict.fromkeys(CLOCK_FLAGS, 0) | {
        "ticket_id": r["ticket_id"], "seq": r["seq"], "unit_code": r["unit_code"],
        "category_code": r["category_code"], "current": int(r["is_current"]), "counted": int(counted)}
    out = [base | {"clock": Clock.DISPATCHED, "at": r["dispatched_at"],
                   "responded": int(counted and r["responded_in_time"]),
                   "returned": int(r["returned_at"] is not None),
                   "returned_twice": int(r["charged_returned_twice"])}]
    if r["returned_at"] is not None:
        out.append(base | {"clock": Clock.RETURNED, "at": r["returned_at"], "returned": 1,
                           "late": int(not r["returned_in_window"])})
    if not counted:
        return out
    if r["first_replied_at"] is not None:
        out.append(base | {"clock": Clock.FIRST_REPLIED, "at": r["first_replied_at"], "redone": int(r["redo_count"] > 0)})
    if r["completion_due"] is not None:
        finished = r["finished_at"]
        out.append(base | {"clock": Clock.COMPLETION_DUE, "at": r["completion_due"],
                           "late": int(finished is None or finished > r["completion_due"])})
    if r["callback_at"] is not None:
        out.append(base | {"clock": Clock.CALLBACK, "at": r["callback_at"], "resolved": int(r["resolved"] is True),
                           "judged": int(r["resolved"] is not None), "satisfied": int(r["satisfaction"] in SATISFIED),
                           "evaluated": int(r["satisfaction"] is not None)})
    if r["first_callback_at"] is not None:
        out.append(base | {"clock": Clock.FIRST_CALLBACK, "at": r["first_callback_at"],
                           "resolved": int(r["first_resolved"] is True), "judged": int(r["first_resolved"] is not None),
                           "satisfied": int(r["first_satisfaction"] in SATISFIED),
                           "evaluated": int(r["first_satisfaction"] is not None)})
    return out


def analysis_due(rows: list[dict], ownership_hours: int) -> datetime | None:
    """When a ticket goes to the analysis group (分析研判小组), or None: at its second return, or —
    if earlier — ``ownership_hours`` after its first dispatch (即督快响) when by then it had been
    returned and no unit held it accepted (a dispatch signed and not returned at that moment).
    A ticket never returned by then is the response clock's business (签收), not this one."""
    returned = sorted(r["returned_at"] for r in rows if r["returned_at"] is not None)
    if not returned:
        return None
    candidates = [returned[1]] if len(returned) >= 2 else []
    deadline = min(r["dispatched_at"] for r in rows) + timedelta(hours=ownership_hours)
    accepted = any(r["signed_at"] is not None and r["signed_at"] <= deadline
                   and (r["returned_at"] is None or r["returned_at"] > deadline) for r in rows)
    if returned[0] <= deadline and not accepted:
        candidates.append(deadline)
    return min(candidates) if candidates else None


_ASSIGNMENT_COLUMNS = {c.name for c in Assignment.__table__.columns} - {"id"}
_TICKET_KEYS = ("category_code", "source", "urgent_kind", "received_at", "territorial_unit_code")
_EVENT_COLUMNS = [TicketEvent.id, TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.unit_code,
                  TicketEvent.reason, TicketEvent.suggested_unit_code, TicketEvent.reply_kind,
                  TicketEvent.review_passed, TicketEvent.days, TicketEvent.consent, TicketEvent.plan_date,
                  TicketEvent.satisfaction, TicketEvent.resolved]


def law_codes(session: Session) -> set[str]:
    from .config import policy

    configured = set(policy.metrics().law_enforcement_codes)
    flagged = set(session.scalars(select(Category.code).where(Category.law_enforcement.is_(True))))
    return configured | flagged


def roll_days(session: Session, ticket_ids: list[int], sign: int) -> None:
    """Add (+1) or take out (-1) these tickets' clock rows from the per-day rollup (``ClockDay``):
    one INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE, in the database."""
    C = AssignmentClock
    day = func.date(C.at)
    grouped = (select(day, C.unit_code, C.clock, sign * func.count(), *(sign * func.sum(getattr(C, f)) for f in CLOCK_FLAGS))
               .where(C.ticket_id.in_(ticket_ids)).group_by(day, C.unit_code, C.clock))
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ClockDay).from_select(["day", "unit_code", "clock", "rows", *CLOCK_FLAGS], grouped)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["day", "unit_code", "clock"],
        set_={k: getattr(ClockDay, k) + stmt.excluded[k] for k in ("rows", *CLOCK_FLAGS)}))


def refresh(session: Session, ticket_ids: list[int], cal: WorkCalendar, rules: Rules, now: datetime | None = None,
            fresh: dict[int, tuple[dict, list[dict]]] | None = None, until: datetime | None = None,
            lives: bool = True) -> int:
    """Rebuild the assignments (with their clock rows) and analysis-queue entries of these tickets;
    returns the number of assignments written.

    ``until``: from their events up to that moment only — the rows as they stood then, which
    ``worker.asof`` puts in place for the length of a transaction (the tickets' own last event
    time is left as it is).

    ``fresh``: tickets first stored in this transaction, as (ticket fields, events with an ``id``
    in the order they were inserted), from the importer that holds them.  They are derived from
    these rather than read back, and have nothing derived yet to take out (a bulk load's every
    ticket: four statements a batch saved).  ``lives=False``: the tickets' last event time and life
    class stored are right already and are not written again — stored with them by a bulk load
    (``worker.bulk_load``), or kept through a moment's substitution that ``worker.asof`` puts back
    (an UPDATE of every touched ticket, and its row locks, on every job's commit)."""
    if not ticket_ids:
        return 0
    fresh = fresh or {}
    stored = [tid for tid in ticket_ids if tid not in fresh]
    codes = law_codes(session)
    cat_urgent = dict(session.execute(select(Category.code, Category.urgent_kind)).all())
    tickets = {row.id: row._asdict() for row in session.execute(
        select(Ticket.id, Ticket.category_code, Ticket.source, Ticket.urgent_kind, Ticket.received_at,
               Ticket.territorial_unit_code).where(Ticket.id.in_(stored)))} if stored else {}
    events: dict[int, list[dict]] = defaultdict(list)
    if stored:
        known = [TicketEvent.at <= until] if until is not None else []
        for ev in session.execute(select(*_EVENT_COLUMNS).where(TicketEvent.ticket_id.in_(stored), *known)):
            events[ev.ticket_id].append(ev._asdict())
    for tid, (ticket, evs) in fresh.items():
        tickets[tid] = {"id": tid, **{k: ticket[k] for k in _TICKET_KEYS}}
        events[tid] = evs
    for tid, ticket in tickets.items():
        ticket["urgent_kind"] = ticket["urgent_kind"] or cat_urgent.get(ticket["category_code"])
    rows, queue = derive_many(tickets, events, cal, rules, codes)
    life_rows = [] if until is not None or not lives else [
        {"tid": tid, "last": last, "life": life_class(tickets[tid]["received_at"], last)}
        for tid in sorted(tickets) if (last := max((e["at"] for e in events.get(tid, ())), default=None))]
    if life_rows:
        t = table_of(Ticket)
        session.execute(t.update().where(t.c.id == bindparam("tid"))
                        .values(last_event_at=bindparam("last"), life_class=bindparam("life")), life_rows)
    days: Sequence[Any] = ()
    if stored:
        # The days their rows counted on (by the keys: a min/max of ``at`` would walk its index).
        days = session.scalars(select(func.date(AssignmentClock.at)).where(AssignmentClock.ticket_id.in_(stored))
                               .distinct()).all()
        roll_days(session, stored, -1)
        session.execute(delete(AssignmentClock).where(AssignmentClock.ticket_id.in_(stored)))
        session.execute(delete(Assignment).where(Assignment.ticket_id.in_(stored)))
        session.execute(delete(AnalysisItem).where(AnalysisItem.ticket_id.in_(stored)))
    if rows:
        bulk_insert(session, Assignment.__table__, [{k: r[k] for k in _ASSIGNMENT_COLUMNS} for r in rows])
        bulk_insert(session, AssignmentClock.__table__, [c for r in rows for c in clock_rows(r)])
        roll_days(session, ticket_ids, +1)
    if queue:
        session.execute(table_of(AnalysisItem).insert(), queue)
    if days:   # days whose rows all moved elsewhere: no empty rollup rows left
        session.execute(delete(ClockDay).where(ClockDay.rows == 0, ClockDay.day.in_(days)))
    return len(rows)


def derive_many(tickets: dict[int, dict], events: dict[int, list[dict]], cal: WorkCalendar, rules: Rules,
                codes: set[str]) -> tuple[list[dict], list[dict]]:
    """The assignments (with due times) and analysis-queue entries of these tickets, from the events
    given: all of a ticket's events for the stored rows, or those up to a moment for the rows as they
    stood then (``worker.asof``)."""
    rows: list[dict] = []
    queue: list[dict] = []
    for tid in sorted(tickets):
        ticket = tickets[tid]
        derived = derive_ticket(ticket, events.get(tid, []), rules)
        rows.extend(derived)
        queued_at = analysis_due(derived, rules.ownership_dispute_hours)
        if queued_at is not None:
            returns = sorted(r["returned_at"] for r in derived if r["returned_at"] is not None)
            queue.append({"ticket_id": tid, "queued_at": queued_at,
                          "twice_at": returns[1] if len(returns) >= 2 else None,
                          "finished_at": next((r["finished_at"] for r in derived if r["is_current"]), None), "chain": [
                {"unit": r["unit_code"], "returned_at": r["returned_at"].isoformat(sep=" "),
                 "reason": r["return_reason"], "suggested": r["suggested_unit_code"]}
                for r in derived if r["returned_at"] is not None],
                "fallback_unit_code": ticket["territorial_unit_code"]})
    add_deadlines(rows, cal, rules, codes)
    return rows, queue


def life_class(received_at: datetime, last_event_at: datetime) -> int:
    """``span_class`` of a ticket's life, from its receipt to its last event: a ticket with an event
    after a moment and received before it was received within 2**k days of it (``worker.asof``)."""
    return span_class(received_at, last_event_at)


def recompute_all(session: Session, cal: WorkCalendar, rules: Rules, batch: int = 5000, progress=None) -> int:
    """Rebuild every assignment (after a calendar or rules change), in batches of tickets."""
    ids = [i for (i,) in session.execute(select(Ticket.id).order_by(Ticket.id))]
    total = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        total += refresh(session, chunk, cal, rules)
        if progress:
            progress(len(chunk))
    return total
