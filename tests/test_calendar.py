"""The working-day calendar and the deadline rules, against dates counted by hand."""
from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from click.testing import CliRunner

from worker.calendar import UnknownYearError, WorkCalendar, load_calendar
from worker.cli import main
from worker.config import ConfigError
from worker.rules import deadlines_for, load_rules

OVERRIDE_2027 = """
years:
  2027:
    holidays: ["2027-01-01..2027-01-03", "2027-02-06..2027-02-12"]
    workdays: ["2027-02-14"]
"""


@pytest.fixture(scope="module")
def cal():
    return load_calendar()


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def due(cal, rules, at, source="city", **kw):
    return deadlines_for(cal, rules, datetime.fromisoformat(at), source, **kw)


def test_domain_worked_examples(cal, rules):
    assert due(cal, rules, "2025-04-30 10:00")["completion_due"] == datetime(2025, 5, 8, 23, 59, 59)
    out = due(cal, rules, "2026-09-30 15:00", "enterprise_provincial")
    assert out["completion_due"] == datetime(2026, 10, 23, 23, 59, 59)   # Saturday 10 October is a workday
    # Reply in 2 working days: Oct 1-7 off; Oct 8 (Thu) is the 1st, Oct 9 (Fri) the 2nd.
    assert out["reply_due"] == datetime(2026, 10, 9, 23, 59, 59)


def test_spring_festival_2026_with_make_up_saturday(cal, rules):
    # Fri 13 Feb 16:00: Sat 14 Feb is a make-up workday (1), 15-23 Feb off, 24 Feb (2), 25 Feb (3).
    out = due(cal, rules, "2026-02-13 16:00")
    assert out["completion_due"] == datetime(2026, 2, 25, 23, 59, 59)
    assert out["return_until"] == datetime(2026, 2, 14, 23, 59, 59)
    assert out["reply_due"] is None


def test_dispatched_on_a_holiday(cal, rules):
    # Dispatched on 1 Oct 2026 (holiday): the first working day after is 8 Oct, then 9, then 10 (Sat, make-up).
    out = due(cal, rules, "2026-10-01 09:00")
    assert out["completion_due"] == datetime(2026, 10, 10, 23, 59, 59)
    assert out["return_until"] == datetime(2026, 10, 8, 23, 59, 59)


def test_make_up_sunday_before_national_day(cal, rules):
    # Sat 19 Sep 2026 dispatch: Sun 20 Sep is a make-up workday (1), 21 (2), 22 (3).
    assert due(cal, rules, "2026-09-19 11:00")["completion_due"].date() == date(2026, 9, 22)


def test_urgent_kind_replies_within_24_hours(cal, rules):
    out = due(cal, rules, "2026-10-01 09:30", urgent_kind="safety")
    assert out["reply_due"] == datetime(2026, 10, 2, 9, 30)
    assert out["completion_due"] == datetime(2026, 10, 10, 23, 59, 59)


def test_extension_adds_working_days_after_the_due_date(cal, rules):
    # Due Thu 12 Nov 2026 (from Mon 9 Nov); +5 working days: 13, 16, 17, 18, 19 Nov.
    assert due(cal, rules, "2026-11-09 10:00", extended_days=5)["completion_due"].date() == date(2026, 11, 19)


def test_plan_moves_due_to_the_plan_date_capped_at_90_days(cal, rules):
    assert due(cal, rules, "2026-06-01 10:00", plan_date=date(2026, 7, 15))["completion_due"] == \
        datetime(2026, 7, 15, 23, 59, 59)
    assert due(cal, rules, "2026-06-01 10:00", plan_date=date(2026, 12, 31))["completion_due"] == \
        datetime(2026, 8, 30, 23, 59, 59)


def test_crossing_into_an_unknown_year_fails_naming_year_and_file(cal, rules):
    with pytest.raises(UnknownYearError) as err:
        due(cal, rules, "2026-12-30 10:00")
    assert "2027" in str(err.value) and "calendar.yaml" in str(err.value)


def test_crossing_into_2027_with_an_override(tmp_path, rules):
    path = tmp_path / "calendar.yaml"
    path.write_text(OVERRIDE_2027, encoding="utf-8")
    cal = WorkCalendar(path)
    # Wed 30 Dec 2026: Thu 31 Dec (1), Jan 1-3 2027 off, Mon 4 Jan (2), Tue 5 Jan (3).
    assert due(cal, rules, "2026-12-30 10:00")["completion_due"].date() == date(2027, 1, 5)
    # Spring Festival 2027: Fri 5 Feb: Feb 6-12 off, Sun 14 Feb make-up (1), 15 (2), 16 (3).
    assert due(cal, rules, "2027-02-05 10:00")["completion_due"].date() == date(2027, 2, 16)


def test_override_replaces_the_package_year(tmp_path, rules):
    path = tmp_path / "calendar.yaml"
    path.write_text('years:\n  2026:\n    holidays: ["2026-11-23"]\n', encoding="utf-8")
    cal = WorkCalendar(path)
    assert not cal.is_workday(date(2026, 11, 23))
    # The package's National Day is gone for 2026: the year in the file replaces it whole.
    assert cal.is_workday(date(2026, 10, 1))


@pytest.mark.parametrize("text,message", [
    ('years:\n  2027:\n    holidays: ["2027-13-01"]\n', "month must be in 1..12"),
    ('years:\n  2027:\n    holidays: ["2028-01-01"]\n', "is not in 2027"),
    ('years:\n  2027:\n    holiday: ["2027-01-01"]\n', "unknown key"),
    ('years:\n  2027:\n    holidays: ["2027-01-05..2027-01-01"]\n', "ends before it starts"),
])
def test_bad_override_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        WorkCalendar(path)
    assert message in str(err.value) and "calendar.yaml" in str(err.value)


def test_vectorized_equals_scalar(cal):
    import numpy as np

    starts = [date(2026, 1, 1) + (date(2026, 1, 2) - date(2026, 1, 1)) * i for i in range(0, 330, 7)]
    ords = np.array([cal.ordinal(s) for s in starts])
    n = np.array([1 + i % 13 for i in range(len(starts))])
    vec = cal.add_working_days_dates(ords, n)
    for s, k, v in zip(starts, n, vec):
        day, left = s, int(k)
        while left:
            from datetime import timedelta
            day += timedelta(days=1)
            left -= cal.is_workday(day)
        assert v == day


def test_cli_reproduces_worked_examples():
    runner = CliRunner()
    res = runner.invoke(main, ["deadline", "--at", "2025-04-30 10:00", "--source", "city", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output) == {"reply_due": None, "completion_due": "2025-05-08T23:59:59+08:00",
                                      "return_until": "2025-05-06T23:59:59+08:00"}
    res = runner.invoke(main, ["deadline", "--at", "2026-09-30 15:00", "--source", "enterprise_provincial", "--json"])
    assert json.loads(res.output)["completion_due"] == "2026-10-23T23:59:59+08:00"


def test_cli_unknown_year_exits_2():
    res = CliRunner().invoke(main, ["deadline", "--at", "2026-12-30 10:00", "--source", "city", "--json"])
    assert res.exit_code == 2
    assert "2027" in res.output and "calendar.yaml" in res.output


def test_cli_urgent_and_calendar_file(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(OVERRIDE_2027, encoding="utf-8")
    res = CliRunner().invoke(main, ["deadline", "--at", "2026-12-30 10:00", "--source", "city", "--urgent", "policy",
                                    "--calendar", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"reply_due": "2026-12-31T10:00:00+08:00",
                                      "completion_due": "2027-01-05T23:59:59+08:00",
                                      "return_until": "2026-12-31T23:59:59+08:00"}


def test_calendar_check_warns_in_november_about_next_year():
    res = CliRunner().invoke(main, ["calendar", "check", "--today", "2026-11-21"])
    assert res.exit_code == 1 and "next year (2027) is not covered" in res.output
    res = CliRunner().invoke(main, ["calendar", "check", "--today", "2026-06-01"])
    assert res.exit_code == 0 and "2026: chinese-calendar" in res.output


def test_recompute_after_a_calendar_edit_moves_stored_due_times(sqlite_db, history, tmp_path, monkeypatch):
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import Assignment

    history.ticket("C1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D01")
    history.store()
    with session_scope() as s:
        assert s.scalar(select(Assignment.completion_due)) == datetime(2026, 11, 12, 23, 59, 59)
    path = tmp_path / "calendar.yaml"
    # A local adjustment: 10 Nov 2026 off. The year replaces the package's 2026, so restate its holidays.
    import chinese_calendar.constants as c
    days = sorted(d.isoformat() for d in c.holidays if d.year == 2026 and d.weekday() < 5) + ["2026-11-10"]
    workdays = sorted(d.isoformat() for d in c.workdays if d.year == 2026)
    path.write_text(f"years:\n  2026:\n    holidays: {days}\n    workdays: {workdays}\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CALENDAR", str(path))
    res = CliRunner().invoke(main, ["recompute"])
    assert res.exit_code == 0 and "1 assignments recomputed" in res.output
    with session_scope() as s:
        assert s.scalar(select(Assignment.completion_due)) == datetime(2026, 11, 13, 23, 59, 59)
