"""Metrics and detections on hand-built histories, to the exact value, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from worker.config import policy
from worker.db import session_scope
from worker.metrics import Rate, compute
from worker.periods import containing
from worker.policy_schema import Bottom, Metrics, Widespread

WEEK = containing("week", date(2026, 11, 9))          # Mon 9 – Sun 15 Nov 2026
SAME_CALLER = "13800000001"


@pytest.fixture
def week_history(db, history):
    h = history
    # T1: D01, signed in time, replied before due, called back in the week: satisfied, resolved.
    (h.ticket("T1", "2026-11-09 09:30", phone=SAME_CALLER).dispatch("2026-11-09 10:00", "D01")
     .sign("2026-11-09 11:00", "D01").reply("2026-11-10 15:00", "D01").callback("2026-11-11 10:00"))
    # T2: D01, signed after 26 h, replied late (due Thu 12 Nov), callback falls in the NEXT week.
    (h.ticket("T2", "2026-11-09 09:40", phone=SAME_CALLER).dispatch("2026-11-09 10:00", "D01")
     .sign("2026-11-10 12:00", "D01").reply("2026-11-13 09:00", "D01")
     .callback("2026-11-16 10:00", "unsatisfied", False))
    # T3: D02 returns it inside the window; re-dispatched to D01, basically satisfied.
    (h.ticket("T3", "2026-11-09 08:50", phone=SAME_CALLER).dispatch("2026-11-09 09:00", "D02")
     .ret("2026-11-09 15:00", "D02", suggested="D01").dispatch("2026-11-09 16:00", "D01")
     .sign("2026-11-09 17:00", "D01").reply("2026-11-10 10:00", "D01")
     .callback("2026-11-10 18:00", "basically_satisfied", True))
    # T4: D01 extension of 5 working days with consent: due moves from 13 Nov to 20 Nov.
    (h.ticket("T4", "2026-11-10 08:00", phone="13900000004").dispatch("2026-11-10 09:00", "D01")
     .sign("2026-11-10 10:00", "D01").extend("2026-11-11 09:00", "D01", 5).reply("2026-11-18 10:00", "D01")
     .callback("2026-11-19 10:00"))
    # T5: D01 planned (列入计划) until 20 Dec.
    (h.ticket("T5", "2026-11-10 08:00", phone="13900000005").dispatch("2026-11-10 09:00", "D01")
     .sign("2026-11-10 10:00", "D01").reply("2026-11-11 10:00", "D01", "planned", date(2026, 12, 20)))
    # T6: D03 never signs nor replies: overdue at the end of the week, no callbacks.
    h.ticket("T6", "2026-11-09 09:00", phone="13900000006").dispatch("2026-11-09 10:00", "D03")
    # T7: D01 returns it late (window ended 12 Nov); S01 handles it, unsatisfied, redo, then satisfied.
    (h.ticket("T7", "2026-11-11 09:00", phone="13900000007").dispatch("2026-11-11 10:00", "D01")
     .sign("2026-11-11 12:00", "D01").ret("2026-11-13 10:00", "D01", suggested="S01")
     .dispatch("2026-11-13 11:00", "S01").sign("2026-11-13 11:30", "S01").reply("2026-11-13 16:00", "S01")
     .callback("2026-11-14 10:00", "unsatisfied", False).ev("redo", "2026-11-14 11:00", "C00")
     .reply("2026-11-15 09:00", "S01").callback("2026-11-15 12:00"))
    # T8, T9: S02 and S03 exactly like S01's final figures: a three-way tie on score.
    for number, unit in (("T8", "S02"), ("T9", "S03")):
        (h.ticket(number, "2026-11-12 08:00", phone=f"1370000000{number[1]}").dispatch("2026-11-12 09:00", unit)
         .sign("2026-11-12 10:00", unit).reply("2026-11-12 15:00", unit).callback("2026-11-13 10:00"))
    # T10: D05 open, due Mon 16 Nov: a warning on Fri 13 Nov.
    h.ticket("T10", "2026-11-11 08:00", phone="13900000010").dispatch("2026-11-11 09:00", "D05")
    # T11: returned twice (D01, D02) then dispatched to S01; its address belongs to S04.
    (h.ticket("T11", "2026-11-09 08:00", phone="13900000011", street="S04").dispatch("2026-11-09 09:00", "D01")
     .ret("2026-11-09 10:00", "D01", "非本单位职责", "D02").dispatch("2026-11-09 11:00", "D02")
     .ret("2026-11-09 14:00", "D02", "应由属地办理", "S04").dispatch("2026-11-09 15:00", "S01"))
    # T12: 乱罚款 (200101, under the selected code 20); T13 is not law enforcement.
    h.ticket("T12", "2026-11-12 08:00", category="200101", phone="13900000012").dispatch("2026-11-12 09:00", "D21")
    h.ticket("T13", "2026-11-12 08:00", category="0101", phone="13900000013").dispatch("2026-11-12 09:00", "D10")
    return h.store()


def test_unit_rates_exact(week_history):
    with session_scope() as s:
        m = compute(s, WEEK).by_code()
    d01 = m["D01"]
    # Dispatches: T1, T2, T3 (2nd), T4, T5, T7 (returned late, so still counted), T11 (returned in window).
    assert (d01.dispatches, d01.volume) == (7, 6)
    assert d01.response == Rate(5, 6)          # T2 signed after 26 hours
    assert d01.resolution == Rate(2, 2)        # T1, T3; T2's callback is next week's
    assert d01.satisfaction == Rate(2, 2)      # 满意 + 基本满意
    assert d01.overdue == Rate(1, 3)           # due this week: T1, T2 (late), T3; T4 extended, T5 planned
    assert d01.redo == Rate(0, 4)              # first replies this week: T1, T2, T3, T5
    assert d01.returns == Rate(2, 7)           # T7 (late) and T11
    d02 = m["D02"]
    assert (d02.volume, d02.returns) == (0, Rate(2, 2))      # both returned inside the window
    assert d02.resolution.value is None and d02.resolution.pct() == "n/a" and d02.score is None
    d03 = m["D03"]
    assert d03.overdue == Rate(1, 1) and d03.response == Rate(0, 1)
    assert d03.satisfaction.pct() == "n/a" and d03.no_callbacks and d03.meets_requirement is None
    s01 = m["S01"]
    assert s01.redo == Rate(1, 1) and s01.resolution == Rate(1, 1) and s01.satisfaction == Rate(1, 1)
    # T7's first callback (14 Nov) was unsatisfied and unresolved, its last (15 Nov) satisfied.
    assert s01.first_resolution == Rate(0, 1) and s01.first_satisfaction == Rate(0, 1)
    assert d01.first_resolution == Rate(2, 2) and d01.first_satisfaction == Rate(2, 2)
    # T11 was returned by D01 and D02, then taken by S01: the two returning units are charged.
    assert s01.volume == 2 and s01.returned_twice == 0
    assert d01.returned_twice == 1 and d02.returned_twice == 1
    # T7: dispatched Wed 11 Nov, window ended Thu 12 Nov 23:59:59, returned Fri 13 Nov: late.
    assert d01.late_returns == 1 and d02.late_returns == 0


def test_callback_in_next_period_counts_there(week_history):
    with session_scope() as s:
        d01 = compute(s, containing("week", date(2026, 11, 16))).by_code()["D01"]
    assert d01.resolution == Rate(1, 2) and d01.satisfaction == Rate(1, 2)   # T2 unsatisfied, T4 satisfied


def test_ranking_is_total_with_ties_broken_deterministically(week_history):
    cfg = policy.metrics().model_copy(update={"bottom": Bottom(mode="count", value=2)})
    with session_scope() as s:
        result = compute(s, WEEK, cfg=cfg)
    ranked = [(u.unit_code, u.rank) for u in result.units if u.rank]
    # S02 and S03 tie on every figure: the unit code decides.  D01 (response 5/6) scores 0.9833,
    # S01 (response 1/2: T11 unsigned) 0.95.  D03, D05, D10, D21 have no evaluated callback: their
    # 双率 are n/a, so they are not ranked at all (not ranked on their response rate alone).
    assert ranked == [("S02", 1), ("S03", 2), ("D01", 3), ("S01", 4)]
    assert round(result.by_code()["D01"].score, 4) == 0.9833
    assert [u.unit_code for u in result.unranked if u.volume] == ["D03", "D05", "D10", "D21"]
    assert all(u.score is None for u in result.unranked)
    assert [u.unit_code for u in result.units if u.bottom] == ["D01", "S01"]   # the last two RANKED units
    assert not any(u.failing for u in result.units)   # bottom, but meeting the requirement


def test_detections(week_history):
    from worker.asof import view
    from worker.calendar import load_calendar
    from worker.detection import (
        fell_due_between,
        finished_late,
        late_returns,
        law_enforcement,
        overdue_open,
        redos,
        repeated_callers,
        returned_twice,
        warning_horizon,
        warnings,
    )

    as_of = datetime(2026, 11, 13, 12, 0)
    cal = load_calendar()
    with session_scope() as s:
        assert [t["number"] for t in overdue_open(s, as_of)] == ["T6", "T11"]   # T11: S01, due 12 Nov
        # The daily sheet lists those overdue since its window opened: both fell due 12 Nov 23:59:59.
        assert [t["number"] for t in overdue_open(s, as_of, fell_due_between(view(s, as_of).A, datetime(2026, 11, 12, 12, 0), as_of))] == ["T6", "T11"]
        assert overdue_open(s, as_of, fell_due_between(view(s, as_of).A, datetime(2026, 11, 13, 0, 0), as_of)) == []
        horizon = warning_horizon(cal, as_of)
        assert horizon == datetime(2026, 11, 16, 23, 59, 59)
        assert [t["number"] for t in warnings(s, as_of, horizon)] == ["T10"]
        late = late_returns(s, WEEK.start_at, WEEK.end_at)
        assert [(t["number"], t["unit_code"]) for t in late] == [("T7", "D01")]
        # Window: Thu 12 Nov 23:59:59 (one working day after Wed 11 Nov); returned Fri 13 Nov 10:00.
        assert late[0]["return_until"] == datetime(2026, 11, 12, 23, 59, 59)
        assert late[0]["late_by"] == timedelta(hours=10, seconds=1)
        assert [t["number"] for t in finished_late(s, WEEK)] == ["T2"]   # replied 13 Nov, due 12 Nov
        assert [(t["number"], t["redo_count"]) for t in redos(s, WEEK)] == [("T7", 1)]
        twice = returned_twice(s, as_of)
        assert [t["number"] for t in twice] == ["T11"]
        assert [c["unit"] for c in twice[0]["chain"]] == ["D01", "D02"]
        assert twice[0]["chain"][1]["reason"] == "应由属地办理" and twice[0]["fallback_unit_code"] == "S04"
        callers = repeated_callers(s, as_of, 3, 30)
        assert [(c["caller_phone"], c["n"]) for c in callers] == [(SAME_CALLER, 3)]
        law = law_enforcement(s, WEEK.start_at, WEEK.end_at)
        assert [t["number"] for t in law] == ["T12"]


def test_daily_sheet_lists_what_fell_overdue_in_its_window(db, history):
    """An urgent (安全紧急) ticket must be answered within 24 hours: the sheet of 11 Nov lists the
    one whose reply fell due since the previous sheet, not the one overdue since the day before
    (listed then, still counted), nor the one answered in time."""
    from worker.asof import view
    from worker.detection import fell_due_between, overdue_open

    history.ticket("U1", "2026-11-10 08:00", urgent="safety").dispatch("2026-11-10 09:00", "D01")
    history.ticket("U2", "2026-11-09 08:00", urgent="safety").dispatch("2026-11-09 09:00", "D01")
    (history.ticket("U3", "2026-11-10 08:00", urgent="safety").dispatch("2026-11-10 09:00", "D01")
     .reply("2026-11-10 15:00", "D01"))
    history.store()
    as_of, since = datetime(2026, 11, 11, 12, 0), datetime(2026, 11, 10, 12, 0)
    with session_scope() as s:
        assert [t["number"] for t in overdue_open(s, as_of)] == ["U2", "U1"]
        assert [(t["number"], t["reply_due"]) for t in overdue_open(s, as_of, fell_due_between(view(s, as_of).A, since, as_of))] == [
            ("U1", datetime(2026, 11, 11, 9, 0))]


def test_daily_counts_per_unit(week_history):
    """The daily sheet's counts at a moment, including tickets finished or returned only later
    (open then), and the tickets returned twice charged to the units that returned them."""
    from worker.detection import counts_by_unit

    as_of, since, horizon = datetime(2026, 11, 13, 12, 0), datetime(2026, 11, 12, 12, 0), datetime(2026, 11, 16, 23, 59, 59)
    with session_scope() as s:
        counts, totals = counts_by_unit(s, as_of, since, horizon)
        counts = {u: tuple(c.values()) for u, c in counts.items() if any(c.values())}
        # (new, open, warning, overdue, returned twice).  D01: T4 open (replied 18 Nov, due 20 Nov);
        # T2 replied at 09:00; T7 returned at 10:00.  D01 and D02 returned T11 (returned twice, still
        # unfinished); S01, which holds it, is not charged.  S01: T7 dispatched at 11:00, T11 past due.
        assert counts == {"D01": (0, 1, 0, 0, 1), "D02": (0, 0, 0, 0, 1), "D03": (0, 1, 0, 1, 0),
                          "D05": (0, 1, 1, 0, 0), "S01": (1, 2, 0, 1, 0), "D10": (0, 1, 0, 0, 0),
                          "D21": (0, 1, 0, 0, 0)}
        assert totals == {"new": 1, "open": 7, "warning": 1, "overdue": 2, "returned_twice": 1}  # T11 once
        # Four hours earlier T2 (due 12 Nov, replied 13 Nov 09:00) was still open and overdue, and T7
        # (dispatched 11 Nov, completion due Mon 16 Nov) still open at D01, which returned it at 10:00.
        earlier = counts_by_unit(s, datetime(2026, 11, 13, 8, 0), since, horizon)[0]["D01"]
        assert (earlier["open"], earlier["overdue"], earlier["warning"]) == (3, 1, 1)


def test_open_at_a_past_moment_whatever_the_span(db, history):
    """"Open then" is bounded by span classes (2**k days); a replay must still find every
    assignment open at the moment, from hours to years after its dispatch, and no other."""
    from sqlalchemy import select

    from worker.detection import open_at
    from worker.models import Assignment, Ticket

    dispatched = datetime(2025, 1, 2, 9, 0)
    spans = {"H3": timedelta(hours=3), "D1": timedelta(days=1), "D1+": timedelta(days=1, minutes=1),
             "D5": timedelta(days=5), "D40": timedelta(days=40), "D200": timedelta(days=200),
             "D700": timedelta(days=700)}
    for number, span in spans.items():
        (history.ticket(number, "2025-01-02 08:00").dispatch("2025-01-02 09:00", "D01")
         .reply((dispatched + span).isoformat(sep=" "), "D01"))
    history.ticket("OPEN", "2025-01-02 08:00").dispatch("2025-01-02 09:00", "D01")
    history.store()
    with session_scope() as s:
        classes = dict(s.execute(select(Ticket.number, Assignment.span_class).join(Assignment)).all())
        assert classes == {"H3": 0, "D1": 0, "D1+": 1, "D5": 3, "D40": 6, "D200": 8, "D700": 10, "OPEN": None}
        for offset in (timedelta(0), timedelta(hours=2, minutes=59), timedelta(days=1), timedelta(days=1, seconds=30),
                       timedelta(days=4, hours=23), timedelta(days=39), timedelta(days=199), timedelta(days=699),
                       timedelta(days=701)):
            as_of = dispatched + offset
            found = set(s.scalars(select(Ticket.number).join(Assignment).where(open_at(Assignment, as_of))))
            assert found == {n for n, span in spans.items() if offset < span} | {"OPEN"}, offset
        assert not list(s.scalars(select(Ticket.number).join(Assignment).where(open_at(Assignment, dispatched - timedelta(seconds=1)))))


def test_later_events_replace_the_clock_rows(week_history):
    """A newer export's events re-derive the ticket's rows: counted once, at the new clocks."""
    from sqlalchemy import func, insert, select

    from tests.conftest import EVENT_DEFAULTS
    from worker.assignments import refresh
    from worker.calendar import load_calendar
    from worker.models import AssignmentClock, Ticket, TicketEvent
    from worker.rules import load_rules

    with session_scope() as s:
        t10 = s.scalar(select(Ticket.id).where(Ticket.number == "T10"))
        s.execute(insert(TicketEvent), [
            dict(EVENT_DEFAULTS, ticket_id=t10, kind="signed", at=datetime(2026, 11, 11, 10, 0), unit_code="D05"),
            dict(EVENT_DEFAULTS, ticket_id=t10, kind="replied", at=datetime(2026, 11, 17, 9, 0), unit_code="D05",
                 reply_kind="normal"),
            dict(EVENT_DEFAULTS, ticket_id=t10, kind="callback", at=datetime(2026, 11, 17, 15, 0), unit_code="C00",
                 satisfaction="unsatisfied", resolved=False)])
        refresh(s, [t10], load_calendar(), load_rules())
        refresh(s, [t10], load_calendar(), load_rules())   # twice: nothing doubles
        assert s.scalar(select(func.count()).select_from(AssignmentClock).where(AssignmentClock.ticket_id == t10)) == 5   # dispatch, reply, due, last and first callback
        this_week = compute(s, WEEK).by_code()["D05"]
        next_week = compute(s, containing("week", date(2026, 11, 16))).by_code()["D05"]
    assert (this_week.volume, this_week.response, this_week.resolution.pct()) == (1, Rate(1, 1), "n/a")
    # Due Mon 16 Nov, replied Tue 17 Nov: late; the callback and the first reply count next week.
    assert next_week.overdue == Rate(1, 1) and next_week.resolution == Rate(0, 1) and next_week.redo == Rate(0, 1)
    assert next_week.volume == 0


def test_grading_stores_the_rule_that_fired(week_history):
    from sqlalchemy import select

    from worker.grading import grade
    from worker.models import Ticket

    with session_scope() as s:
        grade(s, datetime(2026, 11, 1), datetime(2026, 11, 15))
        rows = {t.number: t for t in s.scalars(select(Ticket))}
        # A law-enforcement ticket saying nothing grave is 一般: not graded by its category alone.
        assert (rows["T12"].severity, rows["T12"].grade_rule) == ("一般", "一般")
        # The same caller three times in 30 days: 反复性 (class B) and 重大 (反复投诉).
        assert rows["T1"].grade_class == "B"
        assert (rows["T1"].severity, rows["T1"].grade_rule) == ("重大", "反复投诉（同一来电人30日内来电3次以上）")
        # T13: another caller, but the fixture's tickets share one address (观海路1号) and most are
        # 物业管理 (0101): the same matter more than 3 times in 30 days.
        assert (rows["T13"].severity, rows["T13"].grade_rule) == ("重大", "反复投诉（同一地址同类事项30日内3次以上）")


def test_metrics_cli_prints_fractions(week_history):
    from click.testing import CliRunner

    from worker.cli import main

    res = CliRunner().invoke(main, ["metrics", "--period", "week", "--at", "2026-11-10"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "区发展和改革局" in ln)
    assert "83.33% (5/6)" in line and "100.00% (2/2)" in line and "33.33% (1/3)" in line


@pytest.fixture
def category_weeks(db, history):
    """Dispatches by category over three weeks (Wednesdays) and the same week a year before."""
    h, n = history, iter(range(1, 100))
    plan = {"2026-10-28": [("0101", "D01")] * 2 + [("0202", "D01")],
            "2026-11-04": [("0101", "D01")] * 2 + [("0202", "D01")] + [("0102", "D01")] * 3,
            "2026-11-11": [("0101", "D01"), ("0101", "D02"), ("0101", "D03")] + [("0202", "D05")] * 4 + [("0303", "D05")],
            "2025-11-12": [("0101", "D01")]}
    for day, tickets in plan.items():
        for category, unit in tickets:
            h.ticket(f"C{next(n)}", f"{day} 09:00", category=category, phone=f"1350000{next(n):04d}").dispatch(
                f"{day} 10:00", unit)
    return h.store()


def test_trend_week_on_week_and_year_on_year(category_weeks):
    from worker.metrics import comparison, trend

    with session_scope() as s:
        weeks = trend(s, WEEK, 3)
        year_before = compute(s, WEEK.year_before())
    assert [(m.period.key, m.volume) for m in weeks] == [("2026-W44", 3), ("2026-W45", 6), ("2026-W46", 8)]
    assert (year_before.period.key, year_before.volume) == ("2025-W46", 1)
    rows = {r["label"]: r for r in comparison(weeks[-1], weeks[-2], year_before)}
    assert (rows["交办工单（件）"]["now"], rows["交办工单（件）"]["previous"], rows["交办工单（件）"]["year_before"]) == (8, 6, 1)
    # A period left out of the comparison (its data incomplete) shows nothing.
    assert {r["previous"] for r in comparison(weeks[-1], None, year_before)} == {None}
    assert rows["满意率"]["now"] == Rate(0, 0)       # nobody called back: n/a, not 0 %


def test_hot_categories_by_volume_and_by_growth(category_weeks):
    from worker.metrics import hot_categories

    with session_scope() as s:
        by_volume = hot_categories(s, WEEK, 5, previous=WEEK.previous())
        rising = hot_categories(s, WEEK, 5, by="growth", previous=WEEK.previous())
        uncompared = hot_categories(s, WEEK, 5)
    assert [(c["code"], c["volume"], c["previous"], c["growth"]) for c in by_volume] == [
        ("0202", 4, 1, 3.0), ("0101", 3, 2, 0.5), ("0303", 1, 0, None)]
    assert by_volume[0]["name"] == "违章搭建"
    # 房屋质量 (0102) fell from 3 to 0: not a hot spot.
    assert [(c["code"], c["volume"] - c["previous"]) for c in rising] == [("0202", 3), ("0101", 1), ("0303", 1)]
    # Without a period to compare with: the same ranking, no previous figure, no growth.
    assert [(c["code"], c["volume"], c["previous"], c["growth"]) for c in uncompared] == [
        ("0202", 4, None, None), ("0101", 3, None, None), ("0303", 1, None, None)]


def test_widespread_by_units_or_by_spike(category_weeks):
    from worker.detection import widespread

    cfg = Metrics(widespread=Widespread(min_units=3, spike_factor=2.0, spike_weeks=2, spike_min_volume=3))
    with session_scope() as s:
        found = widespread(s, WEEK, cfg)
    # 0202: 4 against an average of 1 over the two weeks before (a spike, one unit);
    # 0101: three units, 3 against an average of 2 (no spike); 0303: one ticket, neither.
    assert found == [{"code": "0202", "name": "违章搭建", "units": 1, "volume": 4, "baseline": 1.0, "spike": True},
                     {"code": "0101", "name": "物业管理", "units": 3, "volume": 3, "baseline": 2.0, "spike": False}]


def test_the_daily_rollup_always_matches_the_clock_rows(db, history):
    """clock_days (the per-day rollup whole-day periods read) equals the clock rows grouped by day,
    unit and clock after a store, after a ticket's history changes, and after a full recompute."""
    from sqlalchemy import func, insert, select

    from worker.assignments import recompute_all, refresh
    from worker.calendar import load_calendar
    from worker.models import CLOCK_FLAGS, AssignmentClock, ClockDay, Ticket, TicketEvent
    from worker.rules import load_rules

    (history.ticket("R1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D01")
     .ret("2026-11-09 12:00", "D01").dispatch("2026-11-09 13:00", "S01").sign("2026-11-09 14:00", "S01")
     .reply("2026-11-10 10:00", "S01").callback("2026-11-11 10:00", "unsatisfied", False))
    history.ticket("R2", "2026-11-10 09:00").dispatch("2026-11-10 10:00", "D02")
    history.store()

    def both():
        C = AssignmentClock
        with session_scope() as s:
            rows = {(str(d)[:10], u, c): tuple(int(v or 0) for v in rest) for d, u, c, *rest in s.execute(
                select(func.date(C.at), C.unit_code, C.clock, func.count(), *(func.sum(getattr(C, f)) for f in CLOCK_FLAGS))
                .group_by(func.date(C.at), C.unit_code, C.clock))}
            rolled = {(str(r.day), r.unit_code, r.clock): (r.rows, *(getattr(r, f) for f in CLOCK_FLAGS))
                      for r in s.scalars(select(ClockDay)) if r.rows}
        return rows, rolled

    rows, rolled = both()
    assert rows == rolled and len(rows) > 5
    with session_scope() as s:
        r2 = s.scalar(select(Ticket.id).where(Ticket.number == "R2"))
        s.execute(insert(TicketEvent), [{"ticket_id": r2, "kind": "replied", "at": datetime(2026, 11, 12, 9),
                                         "unit_code": "D02", "reply_kind": "normal"}])
        refresh(s, [r2], load_calendar(), load_rules())
    rows, rolled = both()
    assert rows == rolled
    with session_scope() as s:
        recompute_all(s, load_calendar(), load_rules())
    assert both()[0] == both()[1]
