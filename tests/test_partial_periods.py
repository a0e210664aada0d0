"""Honest statistics (issue 30 §5, DOMAIN.md "Partial periods" and the counting conventions): no
comparison with a period whose data is incomplete; a report over a partial period says which days
it covers; tickets (工单, each once) and dispatches (件次) counted and labelled apart; one figure,
one value in every document of the period; never 「0/0」.

A period's data is complete when the data (the first dispatch in the database) begin on or before
its first day.  Calendar facts: 17 Aug 2026 is a Monday; August has 31 days, September 30; the
return window is one working day (a dispatch of Mon 12 Oct may be returned until Tue 13 Oct
23:59:59)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import document_text
from tests.test_policy_figures import run


def flat(kind: str, scope: str) -> str:
    return document_text(kind, scope, flat=True)


@pytest.fixture
def august_start(db, history):
    """Data from Mon 17 Aug 2026: 2 tickets in August, 4 in September (one a week), satisfied."""
    h, n = history, iter(range(100))
    for day in ("2026-08-17", "2026-08-24", "2026-09-07", "2026-09-14", "2026-09-21", "2026-09-28"):
        i = next(n)
        (h.ticket(f"P{i}", f"{day} 09:00", phone=f"1380000{i:04d}", address=f"山海路{i}号")
         .dispatch(f"{day} 10:00", "D01").sign(f"{day} 11:00", "D01").reply(f"{day} 15:00", "D01")
         .callback(f"{day} 18:00"))
    return h.store()


def test_september_is_not_compared_with_an_august_that_began_on_the_17th(august_start):
    run("run", "monthly_analysis", "--inline", "--at", "2026-09-30 12:00")
    text = flat("monthly_analysis", "2026-09")
    # 4 tickets in September; August's 2 (from the 17th) and last September's none are no basis.
    assert "2026年9月，全区12345政务服务热线交办工单4件（向承办单位交办4件次），上月数据不完整、去年同期无数据，均不作比较。" in text
    assert "较上月" not in text and "+100.0%" not in text
    assert "说明：上月数据不完整，环比不作比较；去年同期无数据，同比不作比较。" in text
    # The comparison table: September's figures, "—" for August and a year before.
    assert "交办工单（件）4————" in text
    # The hot spots: no August figure, no growth, nothing "rising".
    assert "10101物业管理4——" in text and "环比上升较快" not in text
    # The trend charts show the months with complete data only: September.
    assert "说明：趋势图只列数据完整的月份，4月、5月、6月、7月、8月数据不完整或无数据，不列（系统数据自2026年8月17日起）。" in text
    # September itself is complete: no statement of coverage.
    assert "本期统计范围" not in text


def test_reports_over_the_partial_august_say_which_days_they_cover(august_start):
    covered = "系统数据自2026年8月17日起，本期统计范围为8月17日至8月31日，共15天（全期31天），数据不完整。"
    for job in ("monthly_analysis", "monthly_summary", "monthly_law_report"):
        run("run", job, "--inline", "--at", "2026-08-31 12:00")
        assert covered in flat(job, "2026-08"), job
    analysis = flat("monthly_analysis", "2026-08")
    assert "交办工单2件（向承办单位交办2件次），上月无数据、去年同期无数据，均不作比较。" in analysis
    # The third quarter: 17 Aug to 30 Sep, 45 of its 92 days.
    run("run", "quarterly_report", "--inline", "--at", "2026-09-30 12:00")
    assert "系统数据自2026年8月17日起，本期统计范围为8月17日至9月30日，共45天（全期92天），数据不完整。" in \
        flat("quarterly_report", "2026-Q3")


def test_tickets_and_dispatches_apart_and_one_figure_in_every_document_of_the_month(db, history):
    """October 2026, 其他执法规范问题 (2099): K1 returned late by D21 (after its window) and sent to
    D18: one ticket, two dispatches that count (a late return still counts for the returning unit);
    K2 plain: one and one; K3 returned inside the window: its first dispatch does not count, one and
    one.  So 2099: 3 tickets, 4 dispatches; with N1 (物业管理) the month: 4 tickets, 5 dispatches.
    The law report and the monthly analysis both say 3 for 2099 (they once said 4 and 3); the
    monthly analysis and the summary both say 4 tickets and 5 dispatches."""
    h = history
    (h.ticket("K1", "2026-10-12 08:00", category="2099", phone="13900000001", address="金都路1号")
     .dispatch("2026-10-12 09:00", "D21").sign("2026-10-12 10:00", "D21")
     .ret("2026-10-15 09:00", "D21", "非本单位职责", "D18").dispatch("2026-10-15 10:00", "D18"))
    h.ticket("K2", "2026-10-13 08:00", category="2099", phone="13900000002",
             address="金都路2号").dispatch("2026-10-13 09:00", "D21")
    (h.ticket("K3", "2026-10-14 08:00", category="2099", phone="13900000003", address="金都路3号")
     .dispatch("2026-10-14 09:00", "D21").ret("2026-10-14 15:00", "D21", "非本单位职责", "D18")
     .dispatch("2026-10-14 16:00", "D18"))
    h.ticket("N1", "2026-10-14 08:00", phone="13900000004", address="金都路4号").dispatch("2026-10-14 09:00", "D10")
    h.store()
    for job in ("monthly_law_report", "monthly_analysis", "monthly_summary"):
        run("run", job, "--inline", "--at", "2026-10-20 10:00")
    law, analysis, summary = (flat(k, "2026-10") for k in ("monthly_law_report", "monthly_analysis", "monthly_summary"))
    assert "受理涉及行政执法的工单3件（事项编码：" in law and "及其下级编码），向承办单位交办4件次。" in law
    # The category table: 工单（件） then 交办（件次）; no callback yet: "—" for both rates.
    raw = document_text("monthly_law_report", "2026-10")
    assert re.search(r"2099\s*其他执法规范问题\s*3\s+4\s*—\s*—", raw), raw
    # The monthly analysis's key areas: the same 3 for 2099 (then 物业管理's 1).
    assert "12099其他执法规范问题3——" in analysis and "20101物业管理1——" in analysis
    for text in (analysis, summary):
        assert "交办工单4件（向承办单位交办5件次）" in text


def test_no_rate_prints_zero_over_zero(db, history):
    """A rate without a denominator reads 「—（无数据）」 in a sentence, never 「（0/0）」."""
    h = history
    h.ticket("Z1", "2026-10-13 08:00", category="2099").dispatch("2026-10-13 09:00", "D21")
    h.store()
    run("run", "monthly_law_report", "--inline", "--at", "2026-10-20 10:00")
    run("run", "monthly_analysis", "--inline", "--at", "2026-10-20 10:00")
    law, analysis = flat("monthly_law_report", "2026-10"), flat("monthly_analysis", "2026-10")
    assert "本期回访满意率—（无数据），解决率—（无数据），" in law
    assert "满意率—（无数据），解决率—（无数据）" in analysis
    assert "0/0" not in law and "0/0" not in analysis
