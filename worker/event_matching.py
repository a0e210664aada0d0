"""An export's events matched to the stored ones by identity — the ticket, the kind, and the place
among the ticket's events of that kind — so that a re-export stores only what it adds or corrects,
and every correction is audited (``import_corrections``)."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import TicketEvent

EVENT_FIELDS = ("kind", "at", "unit_code", "reason", "note", "suggested_unit_code", "reply_kind", "review_passed",
                "days", "consent", "plan_date", "satisfaction", "resolved", "contact_person", "contact_phone")


@dataclass
class Matched:
    """What a batch's events come to: rows to insert, ids of the stored events they correct, the
    refused lines, and the counts for the import's summary."""
    inserts: list[dict] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows_stored: int = 0
    rows_unchanged: int = 0
    events_corrected: int = 0


def audit_value(v) -> str | None:
    """A value as the corrections' audit writes it."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return v.isoformat() if isinstance(v, date) else str(v)


def before_dispatch(batch, stored: dict, ids: dict) -> list[tuple[int, str, str]]:
    """(line, ticket, reason) of the events dated before the ticket's first dispatch (交办): nothing
    happens at a unit before the ticket reaches it."""
    first: dict[str, datetime] = {}
    numbers = {tid: n for n, tid in ids.items()}
    for (tid, kind), events in stored.items():
        if kind == "dispatched" and events:
            n = numbers[tid]
            first[n] = min(first.get(n, events[0]["at"]), events[0]["at"])
    for _, n, _, e in batch:
        if e["kind"] == "dispatched":
            first[n] = min(first.get(n, e["at"]), e["at"])
    out = []
    for line, n, _, e in batch:
        if e["kind"] != "dispatched" and (n not in first or e["at"] < first[n]):
            out.append((line, n, f"a '{e['kind']}' event at {e['at']} comes before the ticket was dispatched"
                                 + (f" ({first[n]})" if n in first else " (no 交办 event)")))
    return out



def match_events(s: Session, path: Path, batch, ids: dict[str, int], fresh_tickets: set[int], touched: set[int],
                 first_seen, audit: list[dict], corrected_at: datetime) -> Matched:
    """The batch's events against the stored ones, by identity (ticket, kind, place among the
    ticket's events of that kind); the corrections are added to ``audit``, events before the first
    交办 refused with their line.  ``touched``: the tickets stored again whatever their events."""
    out = Matched()
    stored: dict[tuple[int, str], list[dict]] = defaultdict(list)
    known = {ids[n] for _, n, _, _ in batch} - fresh_tickets   # a new ticket has no events stored
    for ev in s.execute(select(TicketEvent.id, TicketEvent.ticket_id, *[getattr(TicketEvent, f) for f in EVENT_FIELDS])
                        .where(TicketEvent.ticket_id.in_(known))
                        .order_by(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.id)) if known else ():
        stored[(ev.ticket_id, ev.kind)].append(ev._asdict())
    in_file: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    for line, n, _, e in batch:
        in_file[(n, e["kind"])].append((line, e))
    refused = before_dispatch(batch, stored, ids)
    for line, n, reason in refused:
        out.errors.append(f"{path}:{line}: ticket {n}: {reason}")
    skip_lines = {line for line, _, _ in refused}
    inserts, replaced = out.inserts, out.replaced
    for (n, kind), events in in_file.items():
        events[:] = [(line, e) for line, e in events if line not in skip_lines]
        tid, counts = ids[n], first_seen[n][2] if n in first_seen else Counter()
        events.sort(key=lambda le: (le[1]["at"], le[0]))
        unique, seen = [], set()
        for line, e in events:   # the same row twice in one export is one event
            key = tuple(e[f] for f in EVENT_FIELDS)
            if key in seen:
                out.rows_unchanged += 1
                continue
            seen.add(key)
            unique.append((line, e))
        have = stored.get((tid, kind), [])
        for i, (line, e) in enumerate(unique, counts[kind]):
            if i >= len(have):
                inserts.append(dict(ticket_id=tid, **e))
                out.rows_stored += 1
                continue
            changed = [f for f in EVENT_FIELDS if have[i][f] != e[f]]
            if not changed:
                out.rows_stored += tid in touched
                out.rows_unchanged += tid not in touched
                continue
            replaced.append(have[i]["id"])
            inserts.append(dict(ticket_id=tid, **e))
            audit += [{"file": str(path), "line": line, "ticket_id": tid, "target": f"{kind}#{i + 1}", "field": f,
                       "old_value": audit_value(have[i][f]), "new_value": audit_value(e[f]),
                       "corrected_at": corrected_at} for f in changed]
            out.events_corrected += 1
            out.rows_stored += 1
        counts[kind] += len(unique)
    return out
