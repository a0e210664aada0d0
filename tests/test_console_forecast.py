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
    from worker.forecast import forecast
    from worker.metrics import compute
    from worker.models import Run

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
    from worker.forecast import forecast

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


def test_the_mid_week_leader_digest_prints_the_desk_s_forecast(failing_every_week):
    """schedules.yaml's leader-forecasts (Thursdays 09:15, ``period: current``; off by default),
    switched on and replayed on Thu 26 Nov: deputy2's 本周走势 names D20 (区城市管理局, never
    satisfied: 0 % against the 90 % requirement, last) in the very words of the desk's forecast at
    that moment, beside the week's final digest, which it does not replace."""
    import dataclasses

    from sqlalchemy import select

    from tests.conftest import document_text
    from worker.config import load_settings
    from worker.db import session_scope
    from worker.forecast import forecast
    from worker.models import Document, Person
    from worker.replay import replay
    from worker.schedules import load

    settings = load_settings()
    cfg = load(settings.schedules_file)
    mid_week = [dataclasses.replace(s, enabled=True) for s in cfg.schedules if s.name == "leader-forecasts"]
    assert mid_week and not any(s.enabled for s in cfg.schedules if s.name == "leader-forecasts")
    with session_scope() as s:
        report = replay(s, dataclasses.replace(cfg, schedules=mid_week), datetime(2026, 11, 26, 0, 0),
                        datetime(2026, 11, 26, 23, 0), settings)
        assert not report.failures, report.failures
        deputy2 = s.scalars(select(Person).where(Person.email == "deputy2@example.gov.cn")).one().id
        seen = forecast(s, datetime(2026, 11, 26, 9, 15))["units"]["D20"]
        scopes = set(s.scalars(select(Document.scope).where(Document.kind == "leader_digest")))
    assert f"2026-W48:{deputy2}:midweek" in scopes and f"2026-W48:{deputy2}" not in scopes
    text = document_text("leader_digest", f"2026-W48:{deputy2}:midweek", flat=True)
    words = seen["words"].replace("你单位", "该单位")
    assert words.endswith("低于要求，且处于后位，本周将计为未达标周。")
    heading = text.split("本周走势")[-1].split("提前预警")[0]
    assert f"区城市管理局：{words}尚待回访{seen['waiting']}件。" in heading
    assert "11月23日至11月26日09:15" in text and "本周尚未结束" in text
