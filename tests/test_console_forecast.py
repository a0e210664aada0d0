"""Where the week is heading (issue 35 item 2): the forecast is the bulletin's counting on the week
cut at the moment.  ``failing_every_week``: every Monday from 14 Sep to 30 Nov 2026 one ticket per
unit, called back at 18:00 — D20's callers unsatisfied and unresolved, the others satisfied.
"""
from __future__ import annotations

from datetime import datetime

from worker.periods import containing

SUNDAY_LAST_MINUTE = datetime(2026, 12, 6, 23, 59, 59)


def test_the_forecast_on_sunday_night_is_the_weekly_bulletin(failing_every_week):
    from sqlalchemy import select

    from tests.test_web import cli
    from worker.db import session_scope
    from worker.metrics import compute
    from worker.models import Run
    from worker.web.desk import forecast

    assert cli("run", "weekly_bulletin", "--at", "2026-12-02 12:00", "--inline").exit_code == 0
    week = containing("week", SUNDAY_LAST_MINUTE)
    with session_scope() as s:
        seen = forecast(s, SUNDAY_LAST_MINUTE)
        bulletin = compute(s, week)
        summary = s.scalars(select(Run.summary).where(Run.job == "weekly_bulletin")).one()

    def ranking(units):
        return [(m.unit_code, m.rank, m.dual_resolution, m.dual_satisfaction, m.failing) for m in units]
    assert seen["week"] == week and ranking(seen["result"].units) == ranking(bulletin.units)
    assert [c for c, f in seen["units"].items() if f["m"].failing] == summary["failing"] == ["D20"]
    d20 = seen["units"]["D20"]
    assert d20["m"].dual_satisfaction.num == 0 and d20["m"].dual_satisfaction.den == 1
    assert d20["words"] == f"按目前数据，本周你单位将排名第{d20['m'].rank}位（共{d20['ranked']}个单位），低于要求，且处于后位，本周将计为未达标周。"


def test_no_forecast_before_wednesday_and_callbacks_still_to_come(failing_every_week):
    from tests.conftest import History
    from worker.db import session_scope
    from worker.web.desk import forecast

    # D01 replied on Tuesday 1 Dec, accepted, not yet called back on Wednesday
    more = History()
    (more.ticket("W1201D01", "2026-12-01 08:00").dispatch("2026-12-01 09:00", "D01")
     .sign("2026-12-01 10:00", "D01").reply("2026-12-01 15:00", "D01").review("2026-12-01 16:00"))
    more.store()
    with session_scope() as s:
        assert forecast(s, datetime(2026, 12, 1, 17, 0)) is None          # Tuesday: too early to say
        wednesday = forecast(s, datetime(2026, 12, 2, 9, 0))
    assert wednesday["units"]["D01"]["waiting"] == 1
    assert wednesday["units"]["D01"]["words"].startswith("按目前数据，本周你单位将排名第")
    assert wednesday["units"]["D01"]["words"].endswith("达到要求。")
