"""Units and leaders told before it is too late, and every supervision closed out (issue 19).
Times by hand: 13 Nov 2026 is a Friday; the window of a sheet at 08:45 opens at 08:45 on the
previous working day; 3 working days of a city ticket end at 23:59:59."""
from __future__ import annotations

import re

from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from worker.cli import main
from worker.db import session_scope
from worker.models import Document, OutboxMessage, Person


def run(*args, code=0):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, res.output
    return res


def messages(kind):
    with session_scope() as s:
        return [(m.recipient_email, m.subject, m.body_text) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.recipient_email))]


def test_each_unit_gets_only_its_own_tickets_with_their_clocks(sqlite_db, history):
    h = history
    # D05: 安全紧急, dispatched Thu 12 Nov 09:00, reply due Fri 13 Nov 09:00: warned on the reply clock.
    h.ticket("U1", "2026-11-12 08:30", urgent="safety", content="燃气泄漏").dispatch("2026-11-12 09:00", "D05")
    # D03: dispatched Mon 9 Nov 10:00, completion due Thu 12 Nov 23:59:59: newly overdue since Thu 08:45.
    h.ticket("O1", "2026-11-09 09:00", phone="13800000002", content="路灯不亮").dispatch("2026-11-09 10:00", "D03")
    # S01: satisfied? no — sent back for redo on Thu 12 Nov 15:00; a new completion clock: Tue 17 Nov.
    (h.ticket("R1", "2026-11-09 09:00", phone="13800000003", content="噪音扰民").dispatch("2026-11-09 10:00", "S01")
     .sign("2026-11-09 11:00", "S01").reply("2026-11-10 10:00", "S01").callback("2026-11-12 10:00", "unsatisfied", False)
     .ev("redo", "2026-11-12 15:00", "C00"))
    # S02: D02 returned it Thu 12 Nov 11:00; re-dispatched to S02 at 14:00: due Tue 17 Nov.
    (h.ticket("M1", "2026-11-12 08:00", phone="13800000004", content="占道经营").dispatch("2026-11-12 09:00", "D02")
     .ret("2026-11-12 11:00", "D02", "属地管理", "S02").dispatch("2026-11-12 14:00", "S02"))
    # D10: nothing due before Mon 16 Nov: no message for it.
    h.ticket("Q1", "2026-11-13 08:00", phone="13800000005").dispatch("2026-11-13 08:10", "D10")
    h.store()
    run("run", "unit_daily", "--inline", "--at", "2026-11-13 08:45")
    got = messages("unit_daily")
    assert [e for e, _, _ in got] == ["liaison.d03@example.gov.cn", "liaison.d05@example.gov.cn",
                                      "liaison.s01@example.gov.cn", "liaison.s02@example.gov.cn"]
    body = {e.split("@")[0].removeprefix("liaison."): b for e, _, b in got}
    assert "即将到期（预警）（1件）：\n\n1. U1：燃气泄漏（答复时限 11月13日 09:00）" in body["d05"]
    assert "新增超期（1件）：\n\n1. O1：路灯不亮（已超过办结时限 11月12日 23:59）" in body["d03"]
    assert "退回重办（1件）：\n\n1. R1：噪音扰民（11月12日 15:00退回重办，办结时限 11月17日 23:59）" in body["s01"]
    assert "回退后改派给你单位（1件）：\n\n1. M1：占道经营（11月12日改派，办结时限 11月17日 23:59）" in body["s02"]
    for unit, text in body.items():   # another unit's tickets never appear
        others = {"d05": "U1", "d03": "O1", "s01": "R1", "s02": "M1"}
        assert [n for u, n in others.items() if u != unit and f"{n}：" in text] == []
    subject = {e: subj for e, subj, _ in got}["liaison.d05@example.gov.cn"]
    assert subject == "【工单提醒】区司法局11月13日需关注工单 1 件（预警 1、超期 0、重办 0、改派 0）"
    run("run", "unit_daily", "--inline", "--at", "2026-11-13 08:45")     # again: nothing doubles
    assert len(messages("unit_daily")) == 4


def test_unit_lists_of_a_demo_day_never_leave_their_unit(demo):
    out, _ = demo     # the run's shared demo (tests/conftest.py)
    from sqlalchemy import create_engine, text
    engine = create_engine(f"sqlite:///{out / 'hotline.db'}")
    with engine.connect() as conn:
        liaison_unit = dict(conn.execute(text("select email, unit_code from people where role = 'liaison'")).all())
        units_of = {}
        for number, unit in conn.execute(text("select t.number, a.unit_code from tickets t join assignments a "
                                              "on a.ticket_id = t.id")):
            units_of.setdefault(number, set()).add(unit)
        rows = conn.execute(text("select recipient_email, body_text from outbox where kind = 'unit_daily'")).all()
    assert len(rows) > 20
    for email, body in rows:
        numbers = re.findall(r"^\d+\. (\d{15})：", body, re.MULTILINE)
        assert numbers, body
        assert all(liaison_unit[email] in units_of[n] for n in numbers), (email, numbers)


def test_supervision_ledger_states(sqlite_db, history):
    h = history
    # Four city tickets at D20, all overdue on Fri 13 Nov (due Thu 12 Nov): lettered on 13 Nov, to act
    # by Mon 16 Nov.  A1 replied Mon 16 Nov (in time), A2 Tue 17 Nov (late), A3 never.
    for n, reply in (("A1", "2026-11-16 15:00"), ("A2", "2026-11-17 10:00"), ("A3", None)):
        t = h.ticket(n, "2026-11-09 08:00", phone=f"1380000{n[1]}000").dispatch("2026-11-09 09:00", "D20")
        if reply:
            t.reply(reply, "D20")
    # B1: called back unresolved and unsatisfied on Thu 12 Nov: lettered 回访未解决 on 13 Nov; redo;
    # the new callback on Tue 17 Nov is satisfied: closed (销号), late.
    (h.ticket("B1", "2026-11-09 08:00", phone="13800009999").dispatch("2026-11-09 09:00", "D21")
     .sign("2026-11-09 10:00", "D21").reply("2026-11-10 10:00", "D21").callback("2026-11-12 10:00", "unsatisfied", False)
     .ev("redo", "2026-11-13 11:00", "C00").reply("2026-11-16 10:00", "D21").callback("2026-11-17 09:00"))
    h.store()
    run("run", "supervision", "--inline", "--at", "2026-11-13 10:00")
    out = run("supervision", "list", "--at", "2026-11-16 12:00").output
    assert "A1" in out and "0 closed" in out and "4 ticket(s): 4 open" in out
    out = run("supervision", "list", "--at", "2026-11-18 12:00").output
    line = {ln.split()[0]: ln for ln in out.splitlines() if ln[:2] in ("A1", "A2", "A3", "B1")}
    assert "办结超期 letter 2026-11-13 due 2026-11-16  closed 2026-11-16 15:00 in time" in line["A1"]
    assert "closed 2026-11-17 10:00 late" in line["A2"]
    assert line["A3"].endswith("OVERDUE")
    assert "回访未解决 letter 2026-11-13 due 2026-11-16  closed 2026-11-17 09:00 late" in line["B1"]
    assert run("supervision", "list", "--open", "--unit", "D20", "--at", "2026-11-18 12:00").output.splitlines()[0] \
        .startswith("A3")
    # The bulletin of 16-22 Nov names D20's ticket still open past the letter's deadline.
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-18 10:00")
    text = _pdf("weekly_bulletin")
    section = text[text.index("四、挂牌督办逾期未办结情况"):text.index("五、超时回退情况")]
    assert "1区城市管理局12026年11月16日A3" in section and "B1" not in section
    # The monthly analysis counts them per unit: D20 3 issued, 2 closed, 1 overdue; D21 1, 1, 0.
    run("run", "monthly_analysis", "--inline", "--at", "2026-11-18 10:00")
    text = _pdf("monthly_analysis")
    section = text[text.index("五、挂牌督办情况"):]
    assert "1区城市管理局321" in section and "2区综合行政执法局110" in section


def _pdf(kind, scope=None):
    with session_scope() as s:
        q = select(Document.path).where(Document.kind == kind).order_by(Document.id.desc())
        path = s.scalars(q.where(Document.scope == scope) if scope else q).first()
    return re.sub(r"\s", "", "".join(p.extract_text() for p in PdfReader(path).pages))


def test_leader_digest_and_ladder_state_in_view(failing_every_week):
    run("run", "escalation_weekly", "--inline", "--at", "2026-09-23 10:00")   # W39: D20 fails its 2nd week
    run("run", "leader_digest", "--inline", "--at", "2026-09-23 10:00")
    with session_scope() as s:
        deputy2 = s.scalars(select(Person).where(Person.email == "deputy2@example.gov.cn")).one()
    got = messages("leader_digest")
    assert [e for e, _, _ in got] == [f"deputy{i}@example.gov.cn" for i in range(1, 7)]   # one each, to the leader
    text = _pdf("leader_digest", f"2026-W39:{deputy2.id}")
    assert "区城市管理局" in text and "区发展和改革局" not in text       # deputy1's unit is not on deputy2's page
    assert f"分管单位12345热线工作周报（{deputy2.name}）" in text
    # D20: last of 7 ranked, 0/1 both rates, the leader-in-charge interview issued, 2 weeks since 14 Sep;
    # one more failing week brings the principal leader's interview (提前预警).
    assert "区城市管理局0.00%（0/1）0.00%（0/1）7/7" in text
    assert "区级分管领导约谈单位主要负责同志（2026年12月21日）连续2周（自9月14日起）" in text
    assert "区城市管理局已连续2周“双率”未达标，下周仍未达标将启动“区政府主要领导约谈单位主要负责同志”" in text
    run("run", "weekly_bulletin", "--inline", "--at", "2026-09-23 10:00")
    text = _pdf("weekly_bulletin")
    # The tier in force with the day it was issued (this run: the manual clock's 21 Dec), and the next.
    assert "1区城市管理局2周（自9月14日起）区级分管领导约谈单位主要负责同志（2026年12月21日）区政府主要领导约谈单位主要负责同志" in text
