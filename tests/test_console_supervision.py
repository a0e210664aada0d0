"""督办 closed out on line (issue 35 item 3; seed 004: 挂牌督办、销号管理), over HTTP.

test_web's district and history.  This morning's (Mon 21 Dec 2026 09:00) supervision run put
T1214D01 (D01, past its completion due of Thu 17 Dec) under a 督办函 dated 21 Dec asking for it
by the end of the next working day, Tue 22 Dec (config/metrics.yaml act_within_working_days: 1);
T1214D02 likewise for D02.  D01's liaison is 李春生, the centre's 潘永强 (db/seed/district.yaml).
The console's clock is moved by each test; every step is recorded at it.
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.test_web import CENTRE, DEPUTY1, JUSTICE, LIAISON_D01, OPS, PASSWORD, cli, csrf, login, prepare

LIAISON_D02 = "liaison.d02@example.gov.cn"
ENTRY = "/supervision/T1214D01/completion"
PDF = b"%PDF-1.4\n% the unit's rectification report\n%%EOF\n"


@pytest.fixture
def clock():
    return [datetime(2026, 12, 21, 10, 0)]


@pytest.fixture
def console(db, world, history, clock):
    from starlette.testclient import TestClient

    from worker.web.app import create_app

    world(("console",), lambda: prepare(history))
    assert cli("console-user", "add", LIAISON_D02, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    app = create_app(secret="test-secret", clock=lambda: clock[0])

    def client(email: str) -> TestClient:
        c = TestClient(app, base_url="https://testserver")
        login(c, email)
        return c
    return client


def answer(c, path=ENTRY, done="已修复路灯并回访来电人", file=("整改报告.pdf", PDF), token=None):
    files = {"file": (file[0], file[1], "application/octet-stream")} if file else None
    return c.post(path + "/answer", data={"csrf": token or csrf(c, "/supervision"), "done": done}, files=files,
                  follow_redirects=False)


def decide(c, decision, reason="", path=ENTRY):
    return c.post(path + "/decide", data={"csrf": csrf(c, "/supervision"), "decision": decision, "reason": reason},
                  follow_redirects=False)


def steps(html: str) -> list[list[str]]:
    body = html.split('id="steps"')[1].split("</tbody>")[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.DOTALL)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.DOTALL)]


def test_liaison_answers_the_centre_accepts_every_step_with_who_and_when(console, clock):
    liaison, centre = console(LIAISON_D01), console(CENTRE)
    page = liaison.get(ENTRY).text
    assert "提交答复" in page and "同意销号" not in page and "2026-12-22" in page   # the letter's act-by date
    r = answer(liaison)
    assert r.status_code == 303 and r.headers["location"] == ENTRY
    page = liaison.get(ENTRY).text
    assert steps(page) == [["2026-12-21 10:00", "李春生", "答复", "已修复路灯并回访来电人", "整改报告.pdf"]]
    assert "已答复待销号" in page and "提交答复" not in page          # one answer awaits the centre
    assert answer(liaison).status_code == 400                           # not a second one meanwhile
    # the attachment, kept under the var folder, to the unit and the centre; not to another unit
    link = re.search(r'href="(/supervision/files/\d+)"', page).group(1)
    assert liaison.get(link).content == PDF and centre.get(link).content == PDF
    assert console(LIAISON_D02).get(link).status_code == 403
    clock[0] = datetime(2026, 12, 21, 15, 30)
    assert "同意销号" in centre.get(ENTRY).text
    assert decide(centre, "accept").status_code == 303
    page = centre.get(ENTRY).text
    assert steps(page)[1] == ["2026-12-21 15:30", "潘永强", "销号", "同意销号", "—"]
    assert '<dd id="answer-state">已销号</dd>' in page
    # off the liaison's desk; in the ledger as of each moment, with who and when
    assert "/supervision/T1214D01/completion" not in liaison.get("/today").text
    out = cli("supervision", "list", "--steps", "--unit", "D01", "--at", "2026-12-21 16:00").output
    assert "T1214D01           答复 2026-12-21 10:00 李春生 <liaison.d01@example.gov.cn>: 已修复路灯并回访来电人  附件 整改报告.pdf" in out
    assert "T1214D01           销号 2026-12-21 15:30 潘永强 <center@example.gov.cn>: 同意销号" in out
    assert "[已销号 2026-12-21 15:30]" in out
    before = cli("supervision", "list", "--steps", "--unit", "D01", "--at", "2026-12-21 12:00").output
    assert "[已答复待销号 2026-12-21 10:00]" in before and "销号 2026-12-21 15:30" not in before


def test_a_returned_answer_is_answered_again_and_lateness_is_listed(console, clock):
    liaison, centre = console(LIAISON_D01), console(CENTRE)
    answer(liaison, file=None)
    assert decide(centre, "return").status_code == 400                 # a return says why
    assert decide(centre, "return", "未附现场照片").status_code == 303
    page = liaison.get(ENTRY).text
    assert steps(page)[1][2:4] == ["退回", "未附现场照片"] and "已退回" in page and "提交答复" in page
    # Wed 23 Dec: past the act-by date (Tue 22 Dec) without 销号 — overdue, for D01 and for D02
    clock[0] = datetime(2026, 12, 23, 9, 0)
    overdue = centre.get("/supervision", params={"show": "overdue"}).text
    assert {"T1214D01", "T1214D02"} <= set(re.findall(r'href="/supervision/(T\w+)/', overdue))
    assert "已退回（逾期）" in overdue
    assert answer(liaison, done="已补充现场照片").status_code == 303
    assert decide(centre, "accept").status_code == 303
    out = cli("supervision", "list", "--at", "2026-12-23 10:00").output
    late = out.splitlines()[-1]
    assert re.match(r"\d+ answer\(s\) overdue \(past the deadline, not accepted — 逾期未销号\): ", late)
    assert "T1214D02 区教育和体育局 未答复" in late and "T1214D01" not in late


def test_only_the_unit_answers_only_the_centre_decides_with_csrf(console):
    from sqlalchemy import func, select

    from worker.db import session_scope
    from worker.models import SupervisionStep

    liaison = console(LIAISON_D01)
    assert answer(liaison, "/supervision/T1214D02/completion").status_code == 403     # D02's letter
    assert console(LIAISON_D02).get(ENTRY).status_code == 403
    for email in (DEPUTY1, CENTRE, OPS):      # D01's leader in charge, the centre, operations
        c = console(email)
        assert c.get(ENTRY).status_code == 200 and "提交答复" not in c.get(ENTRY).text
        assert answer(c).status_code == 403
    assert console(JUSTICE).get("/supervision").status_code == 403
    assert answer(liaison, token="forged").status_code == 403                          # CSRF
    assert answer(liaison, file=("run.exe", b"MZ")).status_code == 400                 # kind of file
    assert answer(liaison, done="  ").status_code == 400                               # says what was done
    assert decide(console(CENTRE), "accept").status_code == 400                        # nothing answered yet
    assert answer(liaison).status_code == 303
    for email in (LIAISON_D01, DEPUTY1, OPS):
        assert decide(console(email), "accept").status_code == 403
    assert liaison.get("/supervision/T1214D01/analysis").status_code == 404
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(SupervisionStep)) == 1


def test_the_bulletin_shows_the_close_out_as_of_its_moment(console, clock, monkeypatch):
    """The bulletin of 21–27 Dec fires Mon 28 Dec 09:00: D01's answer and 销号 on Wed 23 Dec are in
    it; D02's answer at 10:00 that Monday is not (after the moment), so D02's entry is still listed
    as overdue (act-by Tue 22 Dec, no 销号 by the moment)."""
    import worker.jobs
    from tests.conftest import document_text

    clock[0] = datetime(2026, 12, 23, 9, 0)
    answer(console(LIAISON_D01))
    clock[0] = datetime(2026, 12, 23, 11, 0)
    decide(console(CENTRE), "accept")
    clock[0] = datetime(2026, 12, 28, 10, 0)
    assert answer(console(LIAISON_D02), "/supervision/T1214D02/completion").status_code == 303
    monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2026, 12, 28, 9, 0))
    result = cli("run", "weekly_bulletin", "--at", "2026-12-23 12:00", "--inline")
    assert result.exit_code == 0, result.output
    text = document_text("weekly_bulletin", "2026-W52", flat=True)
    section = text[text.index("七、督办函答复及销号情况"):]
    assert "截至12月28日09:00" in section
    assert "1区发展和改革局T1214D01办结12月23日09:00已销号（12月23日）" in section
    late = section.split("整改答复仍未获销号")[1]
    # 件 are tickets: T1214D02, overdue on its letter, is one ticket named once
    assert late.count("T1214D02") == 1 and "1区教育和体育局1" in late, late
    assert "区教育和体育局T1214D02办结" not in section                                 # answered after the moment
