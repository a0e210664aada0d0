"""Figures and lists against the policy (DOMAIN.md and its decisions), each value derived by hand.

Calendar facts used below (2026): 9-13 Nov and 16-20 Nov are working weeks; 14-15 Nov a weekend.
"N working days from t" ends at 23:59:59 of the N-th working day after t's date; 24 hours is
elapsed time; the return window is one working day.
"""
from __future__ import annotations

import email
import io
import re
from datetime import date, datetime
from email import policy as email_policy

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import document_sheets, document_text
from worker.cli import main
from worker.db import session_scope
from worker.detection import returned_twice_by_unit
from worker.models import Escalation, ImportCorrection, OutboxMessage, Run, Ticket, TicketEvent


def run(*args, code=0):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, res.output
    return res


def pdf_text(kind: str, scope: str | None = None) -> str:
    return document_text(kind, scope, flat=True)


def summary(job: str) -> dict:
    with session_scope() as s:
        return s.scalars(select(Run.summary).where(Run.job == job).order_by(Run.id.desc())).first()


def message_bodies(kind: str) -> list[str]:
    with session_scope() as s:
        return [m.body_text for m in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))]


# -- 1, 4, 5: the daily sheet -------------------------------------------------------------------
@pytest.fixture
def sheet_history(db, history):
    h = history
    # L1: D01 takes it Wed 11 Nov 10:00; its return window ends Thu 12 Nov 23:59:59; it returns it
    # Fri 13 Nov 10:00 (10 hours late), suggesting S01.  超时回退: still counts for D01.
    (h.ticket("L1", "2026-11-11 09:00").dispatch("2026-11-11 10:00", "D01").sign("2026-11-11 11:00", "D01")
     .ret("2026-11-13 10:00", "D01", "不属于本单位职责", "S01"))
    # L2: D02 returns it inside its window (not a late return).
    (h.ticket("L2", "2026-11-12 09:00", phone="13800000002").dispatch("2026-11-12 10:00", "D02")
     .ret("2026-11-12 15:00", "D02", "应由属地办理", "S02").dispatch("2026-11-12 16:00", "S02"))
    # L3: D03 takes it Mon 9 Nov 10:00 (city: completion due Thu 12 Nov 23:59:59), never answers, and
    # returns it late on Fri 13 Nov 15:00.  At 08:30 that morning it was still open at D03, overdue.
    (h.ticket("L3", "2026-11-09 09:00", phone="13800000003").dispatch("2026-11-09 10:00", "D03")
     .ret("2026-11-13 15:00", "D03", "非本单位职责", None))
    # U1: 安全紧急, dispatched Thu 12 Nov 09:00: reply due 24 hours later, Fri 13 Nov 09:00; its
    # completion due is three working days later, Tue 17 Nov 23:59:59.
    h.ticket("U1", "2026-11-12 08:30", phone="13800000004", urgent="safety").dispatch("2026-11-12 09:00", "D05")
    return h.store()


def test_warning_and_overdue_go_by_the_next_clock(sheet_history):
    from worker.calendar import load_calendar
    from worker.detection import overdue_open, warning_horizon, warnings

    cal = load_calendar()
    with session_scope() as s:
        before = datetime(2026, 11, 13, 8, 59, 30)    # 30 seconds before U1's reply due
        warned = {t["number"]: t for t in warnings(s, before, warning_horizon(cal, before))}
        assert warned["U1"]["clock"] == "reply" and warned["U1"]["clock_label"] == "答复时限"
        assert warned["U1"]["clock_due"] == datetime(2026, 11, 13, 9, 0)
        assert "U1" not in {t["number"] for t in overdue_open(s, before)}
        after = datetime(2026, 11, 13, 9, 30)          # late on the reply, not on the completion
        late = {t["number"]: t for t in overdue_open(s, after)}
        assert late["U1"]["clock_label"] == "答复时限" and late["U1"]["clock_due"] == datetime(2026, 11, 13, 9, 0)
        assert "U1" not in {t["number"] for t in warnings(s, after, warning_horizon(cal, after))}


def test_daily_sheet_lists_late_returns_and_dispatches_open_before_their_return(sheet_history):
    run("run", "daily_sheet", "--inline", "--at", "2026-11-13 08:30")
    text = pdf_text("daily_sheet")
    # L3 fell overdue at D03 (区公安分局) on 12 Nov 23:59:59, inside the window since Thu 12 Nov 08:30;
    # it is returned only at 15:00, so this morning it is D03's, open and overdue.
    assert "L3" in text and "办结时限11月12日23:59" in text
    assert "已超期1件（上次调度以来新增1件）" in text
    # U1 is warned on its reply due (答复时限 Fri 13 Nov 09:00), not on its completion due: the
    # warned tickets are listed in the sheet's XLSX.
    warned = {row[0]: row for row in document_sheets("daily_sheet")["即将超期工单（预警）"][1:]}
    assert warned["U1"][2:4] == ("答复时限", datetime(2026, 11, 13, 9, 0)) and "办结时限11月17日" not in text
    assert "上次调度以来超时回退0件" in text        # L1 is returned later the same morning

    run("run", "daily_sheet", "--inline", "--at", "2026-11-16 08:30")   # window since Fri 13 Nov 08:30
    text = pdf_text("daily_sheet", "2026-11-16")
    assert "上次调度以来超时回退2件" in text
    section = text[text.index("五、超时回退工单"):]
    # Oldest first: L1 (区发展和改革局, 10 hours late), then L3 (区公安分局: window Tue 10 Nov
    # 23:59:59, returned Fri 13 Nov 15:00: 2 days 15 hours late).  L2 returned in time: absent.
    assert "1L1区发展和改革局交办11月11日10:00回退11月13日10:0010小时不属于本单位职责" in section
    assert "2L3区公安分局交办11月9日10:00回退11月13日15:002天15小时非本单位职责" in section
    assert "L2" not in section


def test_weekly_bulletin_counts_late_returns_per_unit(sheet_history):
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    text = pdf_text("weekly_bulletin")
    section = text[text.index("五、超时回退情况"):text.index("六、典型案例")]
    assert "区公安分局（1件）" in section and "区发展和改革局（1件）" in section and "区教育和体育局" not in section
    with session_scope() as s:
        from worker.metrics import compute
        from worker.periods import containing
        m = compute(s, containing("week", date(2026, 11, 9))).by_code()
        assert (m["D01"].late_returns, m["D03"].late_returns, m["D02"].late_returns) == (1, 1, 0)
        # A late return still counts for the unit (volume, and L3 late on its due of 12 Nov);
        # a return inside the window does not.
        assert (m["D01"].volume, m["D02"].volume, m["D03"].volume) == (1, 0, 1)
        assert m["D03"].overdue.num == 1 and m["D03"].overdue.den == 1


# -- 2, 6: supervision letters and the analysis group ---------------------------------------------
@pytest.fixture
def supervised(db, history):
    h = history
    # R1: 安全紧急 at D05, dispatched Mon 16 Nov 09:00: reply due Tue 17 Nov 09:00, completion due
    # Thu 19 Nov 23:59:59.  Never answered.
    h.ticket("R1", "2026-11-16 08:00", urgent="safety").dispatch("2026-11-16 09:00", "D05")
    # T11: returned by D01 and D02 with reasons and suggestions, then dispatched to S01.
    (h.ticket("T11", "2026-11-16 08:00", phone="13900000011", street="S04").dispatch("2026-11-16 09:00", "D01")
     .ret("2026-11-16 10:00", "D01", "非本单位职责", "D02").dispatch("2026-11-16 11:00", "D02")
     .ret("2026-11-16 14:00", "D02", "应由属地办理", "S04").dispatch("2026-11-16 15:00", "S01"))
    return h.store()


def test_supervision_letter_names_the_clock_missed_and_a_date(supervised):
    run("run", "supervision", "--inline", "--at", "2026-11-17 10:00")
    text = pdf_text("supervision_letter", "2026-11-17:D05")
    # Late on its reply only: 答复超期 with the reply due, never 超期未办结 with a due after the letter.
    assert "答复超期" in text and "办结超期" not in text and "超期未办结" not in text
    assert "答复时限11月17日09:00" in text and "11月19日" not in text
    assert "于2026年11月18日前办理完毕" in text     # one working day after Tue 17 Nov
    run("run", "supervision", "--inline", "--at", "2026-11-18 10:00")
    assert summary("supervision")["letters"] == 0   # the reply stage was lettered yesterday
    # Fri 20 Nov: the completion due (Thu 19 Nov) has passed too: a second letter, 办结超期.
    run("run", "supervision", "--inline", "--at", "2026-11-20 10:00")
    text = pdf_text("supervision_letter", "2026-11-20:D05")
    assert "办结超期" in text and "办结时限11月19日23:59" in text and "于2026年11月23日前办理完毕" in text


def test_analysis_group_notice_shows_each_return_with_reason_and_suggestion(supervised):
    run("run", "analysis_notice", "--inline", "--at", "2026-11-16 16:00")
    (body,) = message_bodies("analysis_notice")
    assert "T11（回退两次）" in body
    assert "1. 区发展和改革局于2026-11-16 10:00回退，理由：非本单位职责；建议承办单位：区教育和体育局" in body
    assert "2. 区教育和体育局于2026-11-16 14:00回退，理由：应由属地办理；建议承办单位：滨海路街道" in body
    assert "属地兜底建议：滨海路街道" in body


# -- 7: typical cases ---------------------------------------------------------------------------------
def test_positive_case_says_what_happened(db, history):
    # Replied 6 hours after dispatch, closed 49 hours after it: not "24小时内办结".
    (history.ticket("P1", "2026-11-09 09:00", content="反映停水。").dispatch("2026-11-09 10:00", "D22")
     .sign("2026-11-09 10:30", "D22").reply("2026-11-09 16:00", "D22").callback("2026-11-10 09:00")
     .ev("closed", "2026-11-11 11:00", "C00"))
    history.store()
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    text = pdf_text("weekly_bulletin")
    assert "承办单位交办后6小时内答复，49小时内办结" in text and "24小时内办结" not in text


def test_typical_cases_are_the_first_places_with_ties_in_number_order(db, history):
    """Three of each (typical_cases: 3).  Positive: satisfied, resolved, replied in time, never
    redone — the earliest replies first; negative: unsatisfied or replied late — the most redone
    first, then the latest reply; equal places in ticket-number order.  Callbacks in the week of
    9 November 2026."""
    import re

    for number, replied in (("G4", "15:00"), ("G2", "16:00"), ("G1", "16:00"), ("G3", "17:00")):
        (history.ticket(number, "2026-11-09 09:00").dispatch("2026-11-09 10:00", "S01").sign("2026-11-09 11:00", "S01")
         .reply(f"2026-11-09 {replied}", "S01").callback("2026-11-10 10:00"))
    (history.ticket("B1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "S02").sign("2026-11-09 11:00", "S02")
     .reply("2026-11-09 12:00", "S02").callback("2026-11-10 09:00", "unsatisfied", False)
     .ev("redo", "2026-11-10 10:00", "C00").reply("2026-11-10 15:00", "S02")
     .callback("2026-11-11 10:00", "unsatisfied", False))
    for number, replied in (("B2", "12:00"), ("B4", "11:00"), ("B3", "11:00")):
        (history.ticket(number, "2026-11-09 09:00").dispatch("2026-11-09 10:00", "S02").sign("2026-11-09 11:00", "S02")
         .reply(f"2026-11-10 {replied}", "S02").callback("2026-11-11 10:00", "unsatisfied", False))
    history.store()
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    text = pdf_text("weekly_bulletin")
    listed = re.findall(r"办理的([GB]\d)号工单", text)
    assert listed == ["G4", "G1", "G2", "B1", "B2", "B3"], listed


# -- 8, 9: ranking and the first callback ----------------------------------------------------------
def test_dual_rates_on_first_callbacks_is_a_setting(db, history):
    from worker.config import policy
    from worker.metrics import compute
    from worker.periods import containing

    # F1 at S01: first callback unsatisfied and unresolved (Tue 10 Nov), redo, final callback
    # satisfied (Thu 12 Nov).  F2 at S02: one satisfied callback.
    (history.ticket("F1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "S01").sign("2026-11-09 11:00", "S01")
     .reply("2026-11-09 16:00", "S01").callback("2026-11-10 10:00", "unsatisfied", False)
     .ev("redo", "2026-11-10 11:00", "C00").reply("2026-11-11 10:00", "S01").callback("2026-11-12 10:00"))
    (history.ticket("F2", "2026-11-09 09:00", phone="13800000022").dispatch("2026-11-09 10:00", "S02")
     .sign("2026-11-09 11:00", "S02").reply("2026-11-09 16:00", "S02").callback("2026-11-10 10:00"))
    history.store()
    week = containing("week", date(2026, 11, 9))
    with session_scope() as s:
        final = compute(s, week).by_code()
        first = compute(s, week, cfg=policy.metrics().model_copy(update={"dual_rates": "first"})).by_code()
    assert final["S01"].satisfaction.num == 1 and final["S01"].first_satisfaction.num == 0
    assert final["S01"].meets_requirement is True and final["S01"].rank == 1      # tie with S02: code decides
    assert first["S01"].meets_requirement is False and first["S01"].rank == 2
    assert first["S01"].failing   # bottom (of two ranked), below the requirement, one evaluation


# -- 10: the law-enforcement reports ---------------------------------------------------------------
def test_law_report_uses_the_period_clocks_and_rates_law_units_only(db, history):
    # Q3 2026.  E1 (乱罚款, D21): dispatched 10 Sep, replied in time, called back 30 Sep satisfied.
    # E2 (乱罚款, D21): dispatched 28 Sep, called back 9 Oct unsatisfied: not Q3's callback.
    # N1 (物业管理, D10): not law enforcement: D10 is not rated.
    (history.ticket("E1", "2026-09-10 09:00", category="200101").dispatch("2026-09-10 10:00", "D21")
     .sign("2026-09-10 11:00", "D21").reply("2026-09-11 10:00", "D21").callback("2026-09-30 10:00"))
    (history.ticket("E2", "2026-09-28 09:00", category="200101", phone="13800000031")
     .dispatch("2026-09-28 10:00", "D21").sign("2026-09-28 11:00", "D21").reply("2026-09-29 10:00", "D21")
     .callback("2026-10-09 10:00", "unsatisfied", False))
    (history.ticket("N1", "2026-09-10 09:00", phone="13800000032").dispatch("2026-09-10 10:00", "D10")
     .sign("2026-09-10 11:00", "D10").reply("2026-09-11 10:00", "D10").callback("2026-09-12 10:00", "unsatisfied", False))
    history.store()
    run("run", "quarterly_report", "--inline", "--at", "2026-09-30 12:00")
    text = pdf_text("quarterly_report")
    assert "受理涉及行政执法的工单2件" in text
    # The data begin on 10 Sep: the quarter's report says which days it covers (DOMAIN.md "Partial
    # periods"): 10-30 Sep, 21 of the quarter's 92 days.
    assert "系统数据自2026年9月10日起，本期统计范围为9月10日至9月30日，共21天（全期92天），数据不完整。" in text
    assert "回访满意率100.00%（1/1），解决率100.00%（1/1）" in text     # E2's October callback is not Q3's
    # D21: timeliness 2/2 (both replied by their due), resolution 1/1, satisfaction 1/1: 100.00, A.
    assert "1区综合行政执法局2100.00%100.00%100.00%100.00A减少监督" in text
    assert "区住房和城乡建设局" not in text                              # D10: no law-enforcement ticket
    assert summary("quarterly_report")["ratings"] == {"区综合行政执法局": "A"}


# -- 11, 12: the ladder --------------------------------------------------------------------------------
def tiers_fired():
    with session_scope() as s:
        return [(e.tier, e.period_key, e.state) for e in s.scalars(select(Escalation).order_by(Escalation.id))]


def test_monthly_tiers_skip_the_partial_month_and_climb_one_at_a_time(failing_every_week):
    """D20 fails every week from 14 Sep (DOMAIN.md "One ladder per unit")."""
    # September has data from the 14th only: not assessed.  It is evaluated on Thu 8 Oct (the first
    # working day after 国庆), the day the week of 28 Sep - 4 Oct is too: one evaluation day, which
    # finds D20 failing its third week (W38-W40): the principal leader's interview.
    run("run", "escalation_monthly", "--inline", "--at", "2026-09-15 10:00")
    assert tiers_fired() == [("principal_leader_interview", "2026-W40", "issued")]
    # October fails: tier 3, on Mon 2 Nov with the week of 26 Oct - 1 Nov, whose weekly run (since
    # W38) already had its principal leader's interview: nothing weekly that day.
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    assert tiers_fired()[1:] == [("peoples_congress_questioning", "2026-10", "issued")]
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")   # again: nothing new
    assert len(tiers_fired()) == 2
    # November fails with tier 3 in force since an earlier evaluation day: tier 4, citing tier 3.
    run("run", "escalation_monthly", "--inline", "--at", "2026-11-15 10:00")
    assert tiers_fired()[-1] == ("standing_committee_explanation", "2026-11", "issued")
    with session_scope() as s:
        tier3, tier4 = s.scalars(select(Escalation).where(Escalation.tier.in_(
            ["peoples_congress_questioning", "standing_committee_explanation"])).order_by(Escalation.id)).all()
        assert tier4.cites_id == tier3.id


def test_no_weekly_tier_while_a_monthly_tier_is_in_force(failing_every_week):
    """Tier 3 issued for October (2 Nov) stays in force: D20's next failing weeks bring no weekly
    tier, only the ledger's 已在更高层级; a new weekly run while it is in force is the same."""
    # The first evaluation, on Mon 2 Nov, takes October and the week of 26 Oct - 1 Nov: D20 has failed
    # both; of tier 3 and the weekly run's tier 2 only the higher is issued, the other superseded.
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    assert tiers_fired() == [("peoples_congress_questioning", "2026-10", "issued"),
                             ("principal_leader_interview", "2026-W44", "superseded")]
    with session_scope() as s:   # a passing week ends the weekly run
        from worker.models import WeekResult
        s.add(WeekResult(unit_code="D20", period_key="2026-W45", failing=False, detail={}))
    run("run", "escalation_weekly", "--inline", "--at", "2026-11-18 10:00")   # W46-W47: 2 weeks, tier 1
    assert tiers_fired()[-1] == ("leader_in_charge_interview", "2026-W47", "superseded")
    run("run", "escalation_weekly", "--inline", "--at", "2026-11-25 10:00")   # W46-W48: 3 weeks, tier 2
    assert tiers_fired()[-1] == ("principal_leader_interview", "2026-W48", "superseded")
    assert [t for t in tiers_fired() if t[2] == "issued"] == [("peoples_congress_questioning", "2026-10", "issued")]
    # November fails too: tier 4, the only notice of 1 Dec.
    run("run", "escalation_monthly", "--inline", "--at", "2026-11-15 10:00")
    assert tiers_fired()[-1] == ("standing_committee_explanation", "2026-11", "issued")


def test_a_unit_deep_in_a_run_when_switched_on_gets_the_highest_tier_once(failing_every_week):
    # The service's first weekly evaluation finds D20 failing its third week in a row (W38-W40):
    # the principal leader's interview, once; not the leader in charge's as well.
    run("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00")
    assert tiers_fired() == [("principal_leader_interview", "2026-W40", "issued")]
    run("run", "escalation_weekly", "--inline", "--at", "2026-10-07 10:00")
    assert tiers_fired() == [("principal_leader_interview", "2026-W40", "issued")]
    # The first monthly evaluation, for November, finds October and November failing: tier 3 only
    # (tier 4 needs tier 3 issued first); December's evaluation would bring tier 4.
    run("run", "escalation_monthly", "--inline", "--at", "2026-11-20 10:00")
    assert tiers_fired()[-1] == ("peoples_congress_questioning", "2026-11", "issued")
    assert "standing_committee_explanation" not in [t[0] for t in tiers_fired()]


def test_public_exposure_in_the_bulletin_and_the_monthly_analysis(failing_every_week):
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    # October ends Sun 1 Nov 00:00, inside the week 26 Oct - 1 Nov: that week's bulletin reports it.
    run("run", "weekly_bulletin", "--inline", "--at", "2026-10-28 10:00")
    text = pdf_text("weekly_bulletin")
    section = text[text.index("三、约谈问责情况"):text.index("五、超时回退情况")]
    assert "区城市管理局" in section and "区人大质询并公开曝光" in section and "2026年10月" in section
    assert "区城市管理局已提请区人大质询，在区政府作风展示台公开曝光" in section
    run("run", "monthly_analysis", "--inline", "--at", "2026-10-15 10:00")
    text = pdf_text("monthly_analysis")
    assert "区城市管理局连续一个月“双率”未达到区级要求，已提请区人大对其主要负责同志进行质询" in text


# -- 13, 14: import --------------------------------------------------------------------------------
HEADER = ["工单编号", "受理时间", "诉求渠道", "事项编码", "紧急类型", "诉求内容", "来电人", "联系电话", "诉求地址",
          "所属属地", "环节", "环节时间", "承办单位", "回退原因", "建议承办单位", "答复类型", "审核结果", "延期天数",
          "来电人同意", "计划完成日期", "回访结果", "解决情况"]


def export_rows(content="反映路灯不亮", signed="2026-11-09 11:00"):
    base = ["202611090000001", "2026-11-09 09:00", "市12345", "0101", "", content, "张三", "13812345678",
            "观海路1号", "S01"]
    tail = [""] * 9
    return [base + ["交办", "2026-11-09 10:00", "D01"] + tail,
            base + ["签收", signed, "D01"] + tail,
            base + ["答复", "2026-11-10 10:00", "D01", "", "", "正常答复", "", "", "", "", "", ""]]


def write_csv(path, rows):
    import csv
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER] + rows)


def test_corrected_reexport_replaces_fields_and_events_with_an_audit(db, tmp_path):
    write_csv(tmp_path / "a.csv", export_rows())
    res = run("import", str(tmp_path / "a.csv"))
    assert "3 rows read: 3 stored, 0 unchanged, 0 refused; tickets 1 new, 0 corrected; events 3 new" in res.output
    # The platform corrects the content and moves the 签收 by an hour.
    write_csv(tmp_path / "b.csv", export_rows(content="反映路灯不亮（已更正）", signed="2026-11-09 12:00"))
    res = run("import", str(tmp_path / "b.csv"))
    assert ("3 rows read: 3 stored, 0 unchanged, 0 refused; tickets 0 new, 1 corrected; "
            "events 0 new, 1 corrected") in res.output
    with session_scope() as s:
        assert s.scalar(select(Ticket.content)) == "反映路灯不亮（已更正）"
        signed = s.scalars(select(TicketEvent.at).where(TicketEvent.kind == "signed")).all()
        assert signed == [datetime(2026, 11, 9, 12, 0)]              # replaced, not a second 签收
        audit = {(c.target, c.field): (c.old_value, c.new_value, c.line) for c in s.scalars(select(ImportCorrection))}
        assert audit == {("ticket", "content"): ("反映路灯不亮", "反映路灯不亮（已更正）", 4),
                         ("signed#1", "at"): ("2026-11-09 11:00:00", "2026-11-09 12:00:00", 3)}
        from worker.models import Assignment
        assert s.scalar(select(Assignment.signed_at)) == datetime(2026, 11, 9, 12, 0)   # derived again
    res = run("import", str(tmp_path / "b.csv"))                      # the same file again: nothing
    assert "3 rows read: 0 stored, 3 unchanged, 0 refused; tickets 0 new, 0 corrected" in res.output


def test_import_summary_separates_read_stored_unchanged_refused(sqlite_db, tmp_path):
    rows = export_rows()
    bad = list(rows[0]); bad[12] = "X99"
    write_csv(tmp_path / "a.csv", rows[:2])
    run("import", str(tmp_path / "a.csv"))
    write_csv(tmp_path / "b.csv", rows + [bad, bad])
    res = run("import", str(tmp_path / "b.csv"), code=1)
    assert ("5 rows read: 1 stored, 2 unchanged, 2 refused; tickets 0 new, 0 corrected; events 1 new, "
            "0 corrected; encoding UTF-8") in res.output


# -- 15: one extension rule ----------------------------------------------------------------------------
def test_deadline_extension_is_capped_where_the_import_caps_it():
    # City ticket dispatched Mon 9 Nov 2026 10:00: 3 working days + at most 10 of extension = 13
    # working days: 10-13, 16-20, 23-26 Nov → Thu 26 Nov 23:59:59, whether 10 or 12 were asked.
    ten = CliRunner().invoke(main, ["deadline", "--at", "2026-11-09 10:00", "--source", "city", "--extension", "10",
                                    "--json"])
    twelve = CliRunner().invoke(main, ["deadline", "--at", "2026-11-09 10:00", "--source", "city", "--extension", "12",
                                       "--json"])
    assert ten.exit_code == 0 and twelve.exit_code == 0
    assert '"completion_due": "2026-11-26T23:59:59+08:00"' in ten.stdout
    assert ten.stdout == twelve.stdout and "at most 10 working days" in twelve.stderr


def test_imported_extension_beyond_the_cap(db, history):
    from worker.models import Assignment
    (history.ticket("X1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D01").extend("2026-11-10 09:00", "D01", 6)
     .extend("2026-11-11 09:00", "D01", 6))
    history.store()
    with session_scope() as s:
        assert s.scalar(select(Assignment.completion_due)) == datetime(2026, 11, 26, 23, 59, 59)


# -- 16: masking ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, masked", [
    ("13812345678", "138****5678"),
    ("+86 138 1234 5678", "+86 138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("138-1234-5678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("0535-6681234", "0535-668****"),
    ("(0535)6681234", "(0535)668****"),
    ("010-12345678", "010-1234****"),
    ("370602198001011234", "370602********1234"),
    ("37060219800101123x", "370602********123x"),
    ("请回电13912345678或0535-6681234，身份证370602198001011234", "请回电139****5678或0535-668****，身份证370602********1234"),
    ("座机6681234", "座机668****"),
    ("工单202611200001234已办结，金额12345678元", "工单202611200001234已办结，金额12345678元"),
])
def test_masking_table(raw, masked):
    from worker.rendering import mask_phone, mask_text

    assert mask_text(raw) == masked
    if not any(c in raw for c in "请工座"):
        assert mask_phone(raw) == masked.removeprefix("+86 ").removeprefix("+86")   # a field: national form


def test_message_subjects_bodies_and_attachment_names_are_masked(sqlite_db, history, tmp_path):
    (history.ticket("Z1", "2026-11-09 09:00", phone="0535-6681234", content="回电0535-6681234或13912345678")
     .dispatch("2026-11-09 10:00", "D20"))
    history.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-13 08:30")
    run("run", "supervision", "--inline", "--at", "2026-11-13 10:00")
    with session_scope() as s:
        messages = s.scalars(select(OutboxMessage)).all()
    texts = [m.subject + m.body_text + m.body_html + str(m.attachments) for m in messages]
    texts.append(pdf_text("daily_sheet") + pdf_text("supervision_letter"))
    assert messages
    for t in texts:
        assert "6681234" not in t and "13912345678" not in t
    assert "0535-668****" in texts[-1] and "139****5678" in texts[-1]


def test_eml_of_a_message_is_masked(sqlite_db, history, tmp_path):
    (history.ticket("Z2", "2026-11-09 09:00", content="请回电13912345678").dispatch("2026-11-09 10:00", "D20"))
    history.store()
    run("run", "supervision", "--inline", "--at", "2026-11-13 10:00")
    run("outbox", "send")
    from worker.config import load_settings
    files = list(load_settings().outbox_dir.glob("*.eml"))
    assert files
    letters = 0
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email_policy.default)
        parts = [str(msg["Subject"]), msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()]
        for att in msg.iter_attachments():     # the letter itself carries the ticket's text
            if att.get_content_type() == "application/pdf":
                parts.append(re.sub(r"\s", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(att.get_content())).pages)))
        text = "".join(parts)
        assert "13912345678" not in text
        letters += "请回电139****5678" in text
    assert letters == len(files)       # every message read down to the ticket's text, masked


def test_ownership_not_fixed_within_24_hours_goes_to_the_analysis_group(db, history):
    """即督快响 (seed 002, rules.yaml ownership_dispute_hours: 24): a ticket returned once and not
    accepted by any unit 24 hours after its first dispatch goes to the analysis group at that
    moment, with its chain — without waiting for a second return.  One re-dispatched and signed in
    time does not; neither does one never returned (that is the response clock's business)."""
    h = history
    # O1: dispatched Mon 16 Nov 09:00, returned 11:00, never re-dispatched → queued Tue 17 Nov 09:00.
    (h.ticket("O1", "2026-11-16 08:00", street="S04").dispatch("2026-11-16 09:00", "D01")
     .ret("2026-11-16 11:00", "D01", "非本单位职责", "D02"))
    # O2: returned, re-dispatched to D02 at 13:00 but not signed by Tue 09:00; signed at 10:00 → queued Tue 09:00.
    (h.ticket("O2", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01")
     .ret("2026-11-16 11:00", "D01", "非本单位职责", "D02").dispatch("2026-11-16 13:00", "D02")
     .sign("2026-11-17 10:00", "D02"))
    # O3: returned, re-dispatched and signed Monday → owner fixed in time, not queued.
    (h.ticket("O3", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01")
     .ret("2026-11-16 11:00", "D01", "非本单位职责", "D02").dispatch("2026-11-16 13:00", "D02")
     .sign("2026-11-16 14:00", "D02"))
    # O4: never returned, never signed: not an ownership dispute.
    h.ticket("O4", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01")
    h.store()
    from worker.detection import returned_twice

    with session_scope() as s:
        before = returned_twice(s, datetime(2026, 11, 17, 8, 59))
        queued = {t["number"]: t for t in returned_twice(s, datetime(2026, 11, 17, 9, 0))}
        twice_by_unit = returned_twice_by_unit(s, datetime(2026, 11, 18, 9, 0))
    assert before == []
    assert sorted(queued) == ["O1", "O2"]
    assert queued["O1"]["queued_at"] == datetime(2026, 11, 17, 9, 0)
    assert queued["O1"]["why"] == "交办满24小时仍未明确承办单位"
    assert [c["unit"] for c in queued["O1"]["chain"]] == ["D01"]
    # Not charged as "returned two or more times": that deduction needs two returns.
    assert twice_by_unit == ({}, 0)
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 08:30")
    assert "O1" not in document_text("daily_sheet", flat=True)   # queued at 09:00, after this sheet
    run("run", "daily_sheet", "--inline", "--at", "2026-11-18 08:30")
    section = document_text("daily_sheet", flat=True).split("四、", 1)[1].split("五、", 1)[0]
    assert "或交办满24小时仍未明确承办单位，2件" in section
    assert "1O1交办满24小时仍未明确承办单位反映物业问题1.区发展和改革局于2026-11-1611:00回退" in section
    assert "O2" in section and "O3" not in section
    # The analysis group is told within the hour: the 09:05 run finds O1 and O2, a message each;
    # the 10:05 run finds nothing new.
    run("run", "analysis_notice", "--inline", "--at", "2026-11-17 08:05")
    assert message_bodies("analysis_notice") == []
    run("run", "analysis_notice", "--inline", "--at", "2026-11-17 09:05")
    run("run", "analysis_notice", "--inline", "--at", "2026-11-17 10:05")
    bodies = sorted(message_bodies("analysis_notice"))
    assert len(bodies) == 2 and "工单 O1（交办满24小时仍未明确承办单位）" in bodies[0] and "O2" in bodies[1]
    assert "1. 区发展和改革局于2026-11-16 11:00回退，理由：非本单位职责" in bodies[0]


def test_the_analysis_group_is_told_only_of_what_is_still_unsettled_when_the_notice_goes(db, history):
    """DOMAIN.md "As of a moment": a notice is decided on the state when it is sent.  Queued at Tue
    17 Nov 09:00 (24 hours after the first dispatch, the ticket returned and nobody holding it), a
    ticket re-dispatched and signed at 09:03 is not announced at 09:05; one returned twice and
    replied before the notice is not either; one still unowned is."""
    h = history
    (h.ticket("S1", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01")
     .ret("2026-11-16 11:00", "D01", "非本单位职责", "D02").dispatch("2026-11-17 08:00", "D02")
     .sign("2026-11-17 09:03", "D02"))
    (h.ticket("S2", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01").ret("2026-11-16 10:00", "D01")
     .dispatch("2026-11-16 10:30", "D02").ret("2026-11-17 08:00", "D02").dispatch("2026-11-17 08:10", "S01")
     .reply("2026-11-17 09:00", "S01"))
    h.ticket("S3", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D01").ret("2026-11-16 11:00", "D01")
    h.store()
    run("run", "analysis_notice", "--inline", "--at", "2026-11-17 09:05")
    bodies = message_bodies("analysis_notice")
    assert len(bodies) == 1 and "工单 S3（交办满24小时仍未明确承办单位）" in bodies[0]
    assert summary("analysis_notice")["settled_before_notice"] == 2


def test_daily_sheet_opens_with_the_new_sensitive_and_major_tickets(db, history):
    """Seed 004 日调度: the daily sheet opens with the new 敏感/重大 tickets since the last sheet,
    each with the rule that graded it and what matched (config/metrics.yaml grading.severity, first
    match wins)."""
    h = history
    # Since the last sheet (Mon 16 Nov 08:30) up to Tue 17 Nov 08:30:
    # Four callers at four addresses (one caller four times would be 反复投诉, 重大, by itself).
    h.ticket("G1", "2026-11-16 10:00", content="工地拖欠工资，多名工人欠薪", phone="13900000001",
             address="金都路1号").dispatch("2026-11-16 11:00", "D05")
    h.ticket("G2", "2026-11-16 15:00", content="小区内有人扬言爆炸，联系电话13912345678", phone="13900000002",
             address="金都路2号", urgent="safety").dispatch("2026-11-16 15:10", "D01")
    h.ticket("G3", "2026-11-16 16:00", content="路灯不亮", phone="13900000003",
             address="金都路3号").dispatch("2026-11-16 16:10", "S01")
    # Before the window: listed on the earlier sheet, not again.
    h.ticket("G0", "2026-11-16 08:00", content="楼体坍塌风险", phone="13900000004",
             address="金都路4号").dispatch("2026-11-16 08:10", "D05")
    h.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 08:30")
    text = pdf_text("daily_sheet", "2026-11-17")
    section = text[text.index("一、新增敏感、重大事项"):text.index("二、各承办单位办理情况")]
    assert "苗头性、倾向性、敏感性信息，2件" in section
    # 敏感 first (扬言: 极端言行), then 重大 (多名: 涉及人数众多), each with what matched; the phone
    # in the content masked.
    assert section.index("G2") < section.index("G1")
    assert "G211月16日15:00敏感极端言行（扬言）" in section and "139****5678" in section and "13912345678" not in section
    assert "G111月16日10:00重大涉及人数众多（多名）工地拖欠工资" in section
    assert "G3" not in section and "G0" not in section


def test_monthly_analysis_lists_each_deduction_and_the_assessment_score(db, history):
    """Seed 004's 扣分项 (config/metrics.yaml adjustments: 回退2次以上 −1 per ticket, charged to
    each returning unit; 超时回退 −0.5 per return), listed unit by unit in October's analysis; the
    ranking itself stays on the composite score."""
    h = history
    # A1: returned by D01 then D02 inside the window, then dispatched to S01: both returners charged.
    (h.ticket("A1", "2026-10-12 08:00").dispatch("2026-10-12 09:00", "D01").ret("2026-10-12 10:00", "D01", "非本单位职责")
     .dispatch("2026-10-12 11:00", "D02").ret("2026-10-12 12:00", "D02", "非本单位职责").dispatch("2026-10-12 13:00", "S01"))
    # A2: D03 returns on Thu 15 Oct, after its window (one working day: Tue 13 Oct 23:59:59).
    (h.ticket("A2", "2026-10-12 08:00").dispatch("2026-10-12 09:00", "D03").sign("2026-10-12 10:00", "D03")
     .ret("2026-10-15 09:00", "D03", "非本单位职责").dispatch("2026-10-15 10:00", "S02"))
    h.store()
    run("run", "monthly_analysis", "--inline", "--at", "2026-10-20 10:00")
    text = pdf_text("monthly_analysis")
    section = text[text.index("六、考核扣分、加分情况"):]
    assert "区发展和改革局同一事项回退2次以上1-1" in section
    assert "区教育和体育局同一事项回退2次以上1-1" in section
    assert "首接责任制落实不到位（超时回退）1-0.5" in section
    assert section.count("同一事项回退2次以上") == 2 and "滨海路街道" not in section


def test_monthly_summary_names_the_speakers_and_the_months_escalations(failing_every_week):
    """Seed 004 月总结: the 专题调度会议's material for October — seven units ranked (D20's callers
    never satisfied: last), the bottom five (config/metrics.yaml bottom: 5) speak (表态发言), each
    head told so; October's ladder notice (D20: 区人大质询并公开曝光) listed."""
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    run("run", "monthly_summary", "--inline", "--at", "2026-10-15 10:00")
    text = pdf_text("monthly_summary", "2026-10")
    assert "全区政务服务热线专题调度会议材料（2026年10月）" in text
    speakers = text[text.index("三、表态发言单位"):text.index("四、约谈问责及公开曝光情况")]
    # All 100 % but D20 (0 %): ties by code, so D01 and D02 rank first and second.
    assert "区城市管理局7/7" in speakers and "未达标" in speakers
    assert speakers.count("/7") == 5 and "区发展和改革局" not in speakers
    measures = text[text.index("四、约谈问责及公开曝光情况"):text.index("五、考核扣分、加分情况")]
    assert "区城市管理局区人大质询并公开曝光（公开曝光）" in measures
    (body,) = [b for b in message_bodies("monthly_summary_speaker") if "区城市管理局" in b]
    assert "区城市管理局2026年10月12345热线综合排名第7名（共7个单位）" in body and "表态发言" in body
    with session_scope() as s:
        heads = {m.recipient_email for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "monthly_summary_speaker"))}
    assert "head.d20@example.gov.cn" in heads and "head.d01@example.gov.cn" not in heads and len(heads) == 5


def test_monthly_law_report_by_department_and_problem_type_with_recurring_problems(db, history):
    """Seeds 000/001/003 (按月度…提供相关信息): October's law-enforcement analysis for the justice
    bureau — each department's volume per 事项编码, and 屡次不改: the same address and code raised
    three times (config/metrics.yaml repeat.same_address_category.count) in the month."""
    h = history
    for i, day in enumerate(("2026-10-12", "2026-10-14", "2026-10-20")):   # 乱罚款 at one address, 3 times
        h.ticket(f"F{i}", f"{day} 08:00", category="200101", address="观海路8号",
                 phone=f"1390000000{i}").dispatch(f"{day} 09:00", "D21")
    h.ticket("F9", "2026-10-13 08:00", category="200201", address="港城路2号").dispatch("2026-10-13 09:00", "D21")
    h.ticket("Q1", "2026-10-13 08:00", category="200201", address="港城路9号").dispatch("2026-10-13 09:00", "D18")
    h.ticket("N1", "2026-10-13 08:00", category="0101", address="观海路8号").dispatch("2026-10-13 09:00", "D18")
    h.store()
    run("run", "monthly_law_report", "--inline", "--at", "2026-10-20 10:00")
    text = pdf_text("monthly_law_report", "2026-10")
    assert "12345热线涉行政执法工单月度分析" in text
    by_unit = text[text.index("三、各执法部门受理情况"):text.index("四、屡次不改问题")]
    assert "1区综合行政执法局4乱罚款（200101）3件次；乱查封（200201）1件次" in by_unit
    assert by_unit.endswith("2区市场监督管理局1乱查封（200201）1件次")   # N1 (0101) is not law enforcement
    recurring = text[text.index("四、屡次不改问题"):]
    assert "观海路8号乱罚款（200101）3" in recurring and "区综合行政执法局" in recurring
    assert "港城路" not in recurring


def test_law_push_carries_the_same_rows_as_a_spreadsheet(db, history, smtp):
    """Seed 003 (执法监督): the daily push reaches the justice bureau as a PDF and, for loading into
    its system, an XLSX of the same tickets: codes as text, times as date-times, callers masked,
    ticket text never a formula."""
    import io

    from openpyxl import load_workbook

    (history.ticket("X1", "2026-11-10 08:00", category="200101", content="=HYPERLINK(\"http://x\") 乱罚款",
                    phone="13912345678").dispatch("2026-11-10 10:00", "D21"))
    history.ticket("X2", "2026-11-10 08:00", category="0101").dispatch("2026-11-10 10:00", "D21")
    history.store()
    run("run", "law_push", "--inline", "--at", "2026-11-11 09:00")
    run("outbox", "send")
    (msg,) = [m for to, m in smtp.messages if "执法监督推送" in m["Subject"]]
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    (sheet,) = [p for name, p in parts.items() if name.endswith(".xlsx")]
    assert sheet.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert any(name.endswith(".pdf") for name in parts)
    rows = list(load_workbook(io.BytesIO(sheet.get_content())).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("工单编号", "事项编码", "事项类别", "承办单位")
    assert len(rows) == 2                                   # X1 only: 0101 is not law enforcement
    number, code, name, unit, dispatched, due, status, change, triaged, content, caller, phone, *_ = rows[1]
    assert (number, code, name, unit) == ("X1", "200101", "乱罚款", "区综合行政执法局")
    assert dispatched == datetime(2026, 11, 10, 10, 0)
    assert due == datetime(2026, 11, 13, 23, 59, 59)         # 3 working days after Tue 10 Nov
    assert phone == "139****5678" and caller == "张*"
    assert content.startswith("=HYPERLINK") and status == "办理中" and change == "新交办" and triaged == "—"
    book = load_workbook(io.BytesIO(sheet.get_content()))
    assert book.active["J2"].data_type == "s"              # stored as text, not a formula


def test_a_widespread_problem_is_alerted_to_the_centre_the_day_it_is_seen(db, history):
    """Class A 普遍性 (seed 002, config/metrics.yaml widespread.min_units: 12): 社保缴费 handled by
    twelve units within the week is told to the centre on the first daily sheet after it happened,
    once — not only in the monthly analysis."""
    units = [f"D{i:02d}" for i in range(1, 13)]
    for i, unit in enumerate(units):
        history.ticket(f"S{i:02d}", "2026-11-17 09:00", category="0301", phone=f"1370000{i:04d}") \
            .dispatch("2026-11-17 10:00", unit)
    history.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 08:30")   # before they came in
    assert message_bodies("widespread_alert") == []
    run("run", "daily_sheet", "--inline", "--at", "2026-11-18 08:30")
    bodies = message_bodies("widespread_alert")
    assert bodies and all("社保缴费（0301）：12 件，涉及 12 个承办单位" in b for b in bodies)
    with session_scope() as s:
        sent_to = {m.recipient_email for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "widespread_alert"))}
    assert sent_to == {"center@example.gov.cn"}
    run("run", "daily_sheet", "--inline", "--at", "2026-11-19 08:30")   # the same week: told once
    assert len(message_bodies("widespread_alert")) == len(bodies)


def test_a_widespread_problem_whose_tickets_arrived_late_is_still_told(db, history):
    """The sheet tells what was not told before: a category the previous sheet did not find widespread
    is told by the next one, even when the ticket that made it widespread was dispatched before the
    previous sheet and only imported after it (the platform's export came late).  Counted again as of
    the previous sheet's moment, that ticket would make it look already told, and it would never be."""
    from tests.conftest import History

    for i in range(11):      # eleven units on Monday: one short of widespread.min_units (12)
        history.ticket(f"S{i:02d}", "2026-11-16 09:00", category="0301", phone=f"1370000{i:04d}") \
            .dispatch("2026-11-16 10:00", f"D{i + 1:02d}")
    history.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 08:30")
    assert message_bodies("widespread_alert") == []
    late = History()         # the twelfth unit's ticket, dispatched Monday, imported after Tuesday's sheet
    late.ticket("S11", "2026-11-16 09:00", category="0301", phone="13700000011").dispatch("2026-11-16 11:00", "D12")
    late.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-18 08:30")
    bodies = message_bodies("widespread_alert")
    assert bodies and all("社保缴费（0301）：12 件，涉及 12 个承办单位" in b for b in bodies)


def test_a_widespread_problem_is_told_once_whatever_sheets_run_that_week(db, history):
    """A second sheet on the same day tells what became widespread since the first, in a message of
    its own; a sheet executed again for an earlier day tells nothing a later sheet told."""
    for i in range(12):      # 社保缴费 at twelve units on Monday: widespread (min_units 12)
        history.ticket(f"S{i:02d}", "2026-11-16 09:00", category="0301", phone=f"1370000{i:04d}",
                       address=f"观海路{i}号").dispatch("2026-11-16 10:00", f"D{i + 1:02d}")
    for i in range(12):      # 物业管理 at twelve units on Tuesday from 10:00
        history.ticket(f"W{i:02d}", "2026-11-17 09:00", category="0101", phone=f"1360000{i:04d}",
                       address=f"港城路{i}号").dispatch(f"2026-11-17 {10 + i // 6}:{i % 6:02d}", f"D{i + 1:02d}")
    history.store()
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 08:30")
    assert [("社保缴费（0301）：12 件" in b, "物业管理" in b) for b in message_bodies("widespread_alert")] == [(True, False)]
    run("run", "daily_sheet", "--inline", "--at", "2026-11-17 15:00")   # a second sheet that day
    bodies = message_bodies("widespread_alert")
    assert len(bodies) == 2 and "物业管理（0101）：12 件，涉及 12 个承办单位" in bodies[1] and "社保缴费" not in bodies[1]
    run("run", "daily_sheet", "--inline", "--at", "2026-11-18 08:30")
    run("run", "daily_sheet", "--inline", "--at", "2026-11-16 14:00")   # Monday's, executed after the rest
    assert len(message_bodies("widespread_alert")) == 2


def test_monthly_analysis_keeps_the_repeat_complaint_ledger(db, history):
    """Class B 反复性 (seed 004: 建立工作台账…逐一回访销号; config/metrics.yaml repeat: 3 times within 30
    days): October's analysis lists each repeated matter with its tickets, the unit holding the
    latest and its state — closed (已销号) only when all are replied and the last callback found it
    resolved and satisfied."""
    h = history
    for i, day in enumerate(("2026-10-05", "2026-10-12", "2026-10-20")):   # one caller, three times
        t = (h.ticket(f"C{i}", f"{day} 08:00", phone="13911112222", address=f"港城路{i + 10}号", category="0201")
             .dispatch(f"{day} 09:00", "D05").reply(f"{day} 15:00", "D05"))
        if i == 2:
            t.callback(f"{day} 18:00", "satisfied", True)
    for i, day in enumerate(("2026-10-06", "2026-10-13", "2026-10-21")):   # one place and problem, three times
        t = (h.ticket(f"P{i}", f"{day} 08:00", phone=f"1360000000{i}", address="港城路3号", category="0101")
             .dispatch(f"{day} 09:00", "S02").reply(f"{day} 15:00", "S02"))
        if i == 2:
            t.callback(f"{day} 18:00", "unsatisfied", False)
    h.store()
    run("run", "monthly_analysis", "--inline", "--at", "2026-10-20 10:00")
    text = pdf_text("monthly_analysis")
    ledger_ = text[text.index("七、反复投诉事项工作台账"):]
    assert "群众反复投诉的事项2项，其中已回访销号1项" in ledger_
    assert "1来电人139****2222反复来电3C0C1C2区司法局已销号" in ledger_
    assert "2港城路3号·物业管理3P0P1P2初家街道跟踪回访中" in ledger_
    assert "13911112222" not in text


def test_tourism_clues_are_triaged_red_orange_yellow_in_the_push(db, history):
    """Seed 002 (涉旅执法线索“红橙黄”三色研判, config/metrics.yaml tourism_triage: focus 2, public
    holiday 1, peak season 1, repeat 1; 红 ≥ 3, 橙 ≥ 2, else 黄): only law-enforcement tickets about
    tourism get a level, with the reasons."""
    h = history
    # T1: 国庆 (Sat 3 Oct 2026, a public holiday, in the 10-01..10-07 peak season) and 虚假宣传: 2+1+1 → 红.
    h.ticket("T1", "2026-10-03 10:00", category="200101", content="景区门口虚假宣传，游客被乱罚款") \
        .dispatch("2026-10-03 11:00", "D21")
    # T2: an ordinary Friday in November, 短斤少两 at a 民宿: focus only, 2 → 橙.
    h.ticket("T2", "2026-11-06 10:00", category="200101", content="民宿老板短斤少两") \
        .dispatch("2026-11-06 11:00", "D21")
    # T3: a 民宿 complaint with nothing else: 0 → 黄.  T4: not about tourism: no level.
    h.ticket("T3", "2026-11-06 10:00", category="200201", content="民宿被乱查封") \
        .dispatch("2026-11-06 11:00", "D21")
    h.ticket("T4", "2026-11-06 10:00", category="200201", content="商铺被乱查封") \
        .dispatch("2026-11-06 11:00", "D21")
    h.store()
    from worker.calendar import load_calendar

    cal = load_calendar()
    assert date(2026, 10, 3) in cal.holidays and date(2026, 11, 6) not in cal.holidays
    run("run", "law_push", "--inline", "--at", "2026-11-07 09:00")
    text = pdf_text("law_push")
    assert "T1，红色（重点问题：虚假宣传、重要节假日、旅游旺季）" not in text   # T1 is not in this day's window
    assert "T2，橙色（重点问题：短斤少两）" in text and "T3，黄色" in text and "T4，" not in text
    run("run", "law_push", "--inline", "--at", "2026-10-04 09:00")
    assert "T1，红色（重点问题：虚假宣传、重要节假日、旅游旺季）" in pdf_text("law_push", "2026-10-04")
