"""As of a moment (DOMAIN.md "As of a moment"): what the service says of moment T is what it would
have said had only the events up to T been stored.  Each test stores a history twice — whole, and
cut at T in a second database — and compares what both say of T."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.conftest import History

T = datetime(2026, 11, 15, 23, 59, 59)   # the end of the week of 9-15 November


def crossing_history() -> History:
    """Tickets whose events after T change what they were at T."""
    h = History()
    # X1: called back unsatisfied in the week, redone and called back satisfied the week after: at T
    # its last callback is the unsatisfied one.
    (h.ticket("X1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D01").sign("2026-11-09 11:00", "D01")
     .reply("2026-11-10 10:00", "D01").review("2026-11-10 12:00").callback("2026-11-11 10:00", "unsatisfied", False)
     .ev("redo", "2026-11-16 09:00", "C00").reply("2026-11-17 10:00", "D01").callback("2026-11-18 10:00"))
    # X2: D02 returns it after T (late: outside the window); at T it is D02's and overdue.
    (h.ticket("X2", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D02").sign("2026-11-09 11:00", "D02")
     .ret("2026-11-16 10:00", "D02", suggested="D03").dispatch("2026-11-16 11:00", "D03"))
    # X3: replied in time, the review sends it back after T: at T it was finished on time.
    (h.ticket("X3", "2026-11-10 09:00").dispatch("2026-11-10 10:00", "D03").sign("2026-11-10 11:00", "D03")
     .reply("2026-11-12 10:00", "D03").review("2026-11-16 09:00", passed=False))
    # X4: overdue at T (due 12 Nov), extended after T: at T it is overdue on its old due time.
    (h.ticket("X4", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D04").sign("2026-11-09 11:00", "D04")
     .extend("2026-11-16 09:00", "D04", 5))
    # X5: returned once before T (D02 signed it within the 24 hours: an owner was fixed) and once
    # after: at T it is not yet returned twice, nor an ownership dispute.
    (h.ticket("X5", "2026-11-12 09:00").dispatch("2026-11-12 10:00", "D01").ret("2026-11-12 15:00", "D01")
     .dispatch("2026-11-12 16:00", "D02").sign("2026-11-12 17:00", "D02").ret("2026-11-16 09:00", "D02")
     .dispatch("2026-11-16 10:00", "S01"))
    # X6: received before T, first dispatched after it: nothing of it at T.
    h.ticket("X6", "2026-11-15 22:00").dispatch("2026-11-16 09:00", "D05")
    # X7: nothing after T (the stored rows serve it as they are).
    (h.ticket("X7", "2026-11-10 09:00").dispatch("2026-11-10 10:00", "D05").sign("2026-11-10 11:00", "D05")
     .reply("2026-11-11 10:00", "D05").callback("2026-11-12 10:00"))
    return h


def cut(history: History, at: datetime) -> History:
    out = copy.deepcopy(history)
    for number in list(out.events):
        out.events[number] = [e for e in out.events[number] if e["at"] <= at]
    return out


def what_is_said(at: datetime) -> dict:
    """Everything the daily and weekly documents read about moment ``at``."""
    from worker.asof import view
    from worker.db import session_scope
    from worker.detection import counts_by_unit, overdue_open, returned_twice, warnings
    from worker.metrics import compute
    from worker.periods import containing
    from worker.supervision import ledger

    since, horizon = datetime(2026, 11, 13, 8, 30), datetime(2026, 11, 17, 23, 59, 59)
    with session_scope() as s:
        week = compute(s, containing("week", at))
        A = view(s, at).A
        from sqlalchemy import select

        from worker.models import Ticket
        current = sorted(s.execute(select(Ticket.number, A.unit_code, A.finished_at, A.callback_at, A.satisfaction,
                                          A.completion_due, A.is_current, A.ticket_return_count)
                                   .join(Ticket, Ticket.id == A.ticket_id)).all())
        return {
            "metrics": [(u.unit_code, u.volume, u.dispatches, str(u.resolution), str(u.satisfaction),
                         str(u.overdue), str(u.response), str(u.redo), str(u.returns), u.returned_twice,
                         u.late_returns, u.rank) for u in week.units],
            "counts": counts_by_unit(s, at, since, horizon),
            "overdue": [(t["number"], t["unit_code"], t["clock"], t["clock_due"]) for t in overdue_open(s, at)],
            "warnings": [(t["number"], t["unit_code"]) for t in warnings(s, at, horizon)],
            "queue": [(t["number"], t["chain"]) for t in returned_twice(s, at)],
            "letters": [(e.number, e.state) for e in ledger(s, at)],
            "assignments": current,
        }


def _stored_and_read(kind: str, h: History, request, monkeypatch, folder) -> dict:
    """Store a history in a database of its own and read what it says of T."""
    from tests.conftest import _clear_caches, _database

    if kind == "sqlite":
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder}/hotline.db")
    _clear_caches()
    database = _database(kind, request, monkeypatch)
    next(database)
    try:
        h.store()
        return what_is_said(T)
    finally:
        next(database, None)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_moment_reads_as_the_history_cut_there(kind, env, request, monkeypatch):
    whole = crossing_history()
    databases = []
    for i, h in enumerate((whole, cut(whole, T))):
        folder = env / f"db{i}"
        folder.mkdir()
        databases.append(_stored_and_read(kind, h, request, monkeypatch, folder))
    as_read, as_cut = databases
    assert as_read == as_cut
    # and the facts the cut history gives, by DOMAIN.md: X1's unsatisfied callback is the week's last.
    by_unit = {m[0]: m for m in as_cut["metrics"]}
    assert by_unit["D01"][4] == "0.00% (0/1)"          # D01 满意率: X1 unsatisfied (X5 was returned)
    assert ("X2", "D02", "completion") in [o[:3] for o in as_cut["overdue"]]
    assert ("X4", "D04", "completion") in [o[:3] for o in as_cut["overdue"]]
    assert "X5" not in [q[0] for q in as_cut["queue"]]
    assert "X6" not in [a[0] for a in as_cut["assignments"]]


def stored_rows() -> list[tuple]:
    """Every derived row as stored (ids aside), and what each ticket keeps of its events (the last
    one's time and the life class ``touched_tickets`` bounds its search by)."""
    from worker.db import session_scope
    from worker.models import AnalysisItem, Assignment, AssignmentClock, ClockDay, Ticket

    with session_scope() as s:
        out = []
        for model in (Assignment, AssignmentClock, ClockDay, AnalysisItem):
            cols = [c for c in model.__table__.columns if c.name != "id"]
            out.append(sorted(map(tuple, s.execute(select(*cols)).all()), key=repr))
        out.append(sorted(map(tuple, s.execute(select(Ticket.number, Ticket.last_event_at, Ticket.life_class)).all())))
        return out


def test_reading_a_moment_leaves_the_stored_rows_as_they_were(sqlite_db):
    """The rows as of T are put in place for the reading transaction only: committed, it leaves the
    stored rows as the whole history makes them; rolled back, likewise."""
    from worker.asof import view
    from worker.db import session_scope

    crossing_history().store()
    before = stored_rows()
    with session_scope() as s:
        assert len(view(s, T).touched) == 6           # X1-X6 have events after T; X7 has none
        view(s, datetime(2026, 11, 20))               # another moment: the first is put back first
    assert stored_rows() == before
    with session_scope() as s:
        view(s, T)
        s.rollback()
    assert stored_rows() == before


def test_a_view_of_some_tickets_puts_only_those_as_of_the_moment(sqlite_db):
    """The supervision ledger reads only its letters' tickets: asked for X1 and X7, only X1 (X7 has
    no event after T) is derived again — its row is X1's as of T, X2 stays as stored; a wider
    request at the same moment puts every ticket that lived across T as of T; committed, the
    stored rows are as they were."""
    from worker.asof import view
    from worker.db import session_scope
    from worker.models import Assignment as A
    from worker.models import Ticket

    crossing_history().store()
    before = stored_rows()

    def current(s, number):
        return s.execute(select(A.unit_code, A.callback_at, A.satisfaction).join(Ticket, Ticket.id == A.ticket_id)
                         .where(Ticket.number == number, A.is_current.is_(True))).one()

    with session_scope() as s:
        ids = dict(s.execute(select(Ticket.number, Ticket.id)).all())
        x1_stored = current(s, "X1")
        assert x1_stored.callback_at == datetime(2026, 11, 18, 10, 0)    # the satisfied callback after T
        assert view(s, T, among=[ids["X1"], ids["X7"]]).touched == (ids["X1"],)
        assert current(s, "X1").callback_at == datetime(2026, 11, 11, 10, 0)   # at T: the unsatisfied one
        assert current(s, "X2").unit_code == "D03"                      # not asked for: as stored
        assert len(view(s, T).touched) == 6
        assert current(s, "X2").unit_code == "D02"                      # at T: D02's
        assert len(view(s, T, among=[ids["X3"]]).touched) == 6          # the whole view serves it
    assert stored_rows() == before
