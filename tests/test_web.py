"""The web console over HTTP (Starlette's test client): what each role sees, and what it may not.

The district (db/seed/district.yaml) and a hand-built history; the console's clock is Monday
21 December 2026, 09:00.  Expected figures follow DOMAIN.md: a city ticket is due at the end of
the 3rd working day after its dispatch day; the today page counts as the daily sheet does — new
since the previous working day at the same time (Fri 18 Dec 09:00), 预警 when due by the end of
the next working day (Tue 22 Dec 23:59:59), 超期 when past due.
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from click.testing import CliRunner

NOW = datetime(2026, 12, 21, 9, 0)
PASSWORD = "correct horse battery"
CENTRE, LIAISON_D01, DEPUTY1, JUSTICE = ("center@example.gov.cn", "liaison.d01@example.gov.cn",
                                         "deputy1@example.gov.cn", "justice@example.gov.cn")
OPS = "ops@example.gov.cn"


def build_history(history):
    # D01: overdue since Thu 17 Dec 23:59:59 (dispatched Mon 14th), and one due Tue 22nd (预警).
    (history.ticket("T1214D01", "2026-12-14 09:30", phone="13812345678", name="张三", content="小区路灯不亮")
     .dispatch("2026-12-14 10:00", "D01").sign("2026-12-14 11:00", "D01"))
    (history.ticket("T1217D01", "2026-12-17 09:30", phone="13900001111", name="李四")
     .dispatch("2026-12-17 10:00", "D01").sign("2026-12-17 11:00", "D01"))
    # D02: overdue since the 17th, and one dispatched this morning (new; due Thu 24th).
    (history.ticket("T1214D02", "2026-12-14 09:30", phone="13700002222", name="王五")
     .dispatch("2026-12-14 10:00", "D02"))
    (history.ticket("T1221D02", "2026-12-21 07:30", phone="13600003333", name="赵六")
     .dispatch("2026-12-21 08:00", "D02"))
    # D03: a law-enforcement ticket (事项编码 200101 乱罚款), overdue since the 17th.
    (history.ticket("T1214D03", "2026-12-14 09:30", category="200101", phone="13500004444", name="钱七")
     .dispatch("2026-12-14 10:00", "D03"))
    # Returned by D04 and by D05 within their windows, now at D06 (overdue since Fri 18th): 回退≥2次
    # counts once for each returning unit, once in the district's total, never for D06.
    (history.ticket("T1215RT", "2026-12-15 08:30", phone="13400005555", name="孙八")
     .dispatch("2026-12-15 09:00", "D04").ret("2026-12-15 10:00", "D04")
     .dispatch("2026-12-15 11:00", "D05").ret("2026-12-15 12:00", "D05")
     .dispatch("2026-12-15 14:00", "D06").sign("2026-12-15 15:00", "D06"))
    return history.store()


def cli(*args, input=None):
    from worker.cli import main

    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def prepare(history, jobs=(("daily_sheet", "2026-12-21 09:00"), ("supervision", "2026-12-21 09:00"))):
    """The history, this morning's sheet and letters (as ``hotline run`` makes them), and a login
    for the centre, D01's liaison, a deputy district head, the justice bureau and operations."""
    build_history(history)
    for job, at in jobs:
        result = cli("run", job, "--at", at, "--inline")
        assert result.exit_code == 0, result.output
    for email in (CENTRE, LIAISON_D01, DEPUTY1, JUSTICE):
        result = cli("console-user", "add", email, "--password-stdin", input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
    assert cli("console-user", "add", OPS, "--operations", "--password-stdin", input=PASSWORD + "\n").exit_code == 0


@pytest.fixture
def console(db, world, history):
    from starlette.testclient import TestClient

    from worker.web.app import create_app

    world(("console",), lambda: prepare(history))
    app = create_app(secret="test-secret", clock=lambda: NOW)

    def client(email: str | None = None) -> TestClient:
        c = TestClient(app, base_url="https://testserver")
        if email:
            login(c, email)
        return c
    return client


def csrf(client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def login(client, email: str, password: str = PASSWORD):
    r = client.post("/login", data={"email": email, "password": password, "csrf": csrf(client, "/login")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/today", r.text
    return r


def today_rows(html: str) -> dict[str, list[str]]:
    body = html.split('<table class="grid" id="today">')[1].split("</tbody>")[0]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.DOTALL)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_centre_today_counts_as_the_daily_sheet(console):
    page = console(CENTRE).get("/today")
    assert page.status_code == 200
    rows = today_rows(page.text)
    # 在办, 今日新增, 预警, 超期, 回退≥2次
    assert rows["区发展和改革局"] == ["2", "0", "1", "1", "0"]
    assert rows["区教育和体育局"] == ["2", "1", "0", "1", "0"]
    assert rows["区公安分局"] == ["1", "0", "0", "1", "0"]
    assert rows["区民政局"] == rows["区司法局"] == ["0", "0", "0", "0", "1"]
    assert rows["区财政局"] == ["1", "0", "0", "1", "0"]
    assert len(rows) == 6
    totals = [re.sub(r"<[^>]+>", "", c).strip() for c in
              re.findall(r"<td[^>]*>(.*?)</td>", page.text.split("<tfoot>")[1], re.DOTALL)]
    assert totals == ["6", "1", "1", "4", "1"]
    twice = console(CENTRE).get("/tickets", params={"unit": "D04", "list": "returned_twice"})
    assert re.findall(r'href="/tickets/(T\w+)"', twice.text) == ["T1215RT"] and "2026-12-15 10:00" in twice.text
    assert "统计时间：2026-12-21 09:00" in page.text
    assert "预警为 2026-12-22 23:59 前到期" in page.text


def test_overdue_count_links_to_the_tickets_and_the_ticket_page(console):
    c = console(CENTRE)
    listing = c.get("/tickets", params={"unit": "D01", "list": "overdue"})
    assert listing.status_code == 200
    assert re.findall(r'href="/tickets/(T\w+)"', listing.text) == ["T1214D01"]
    assert "2026-12-17 23:59" in listing.text and "办结时限" in listing.text
    ticket = c.get("/tickets/T1214D01")
    assert ticket.status_code == 200
    # the centre sees the caller as recorded; the clocks with met/missed
    assert "13812345678" in ticket.text and "张三" in ticket.text
    clocks = ticket.text.split('id="clocks"')[1].split("</table>")[0]
    assert "2026-12-17 23:59" in clocks and "已超期" in clocks
    assert "按时" in clocks   # signed within 24 hours
    # the supervision letter named it, and so does this morning's sheet: among the tickets overdue
    # longest (its 三) and in its complete overdue list; it lists D01's other ticket among the warnings
    named = ticket.text.split('id="named"')[1].split("</ul>")[0]
    assert "12345热线工单督办函" in named and "12345热线工单日调度" in named
    named = c.get("/tickets/T1217D01").text.split('id="named"')[1].split("</ul>")[0]
    assert "12345热线工单日调度" in named and "12345热线工单督办函" not in named


def test_unit_liaison_sees_only_its_unit_masked(console):
    c = console(LIAISON_D01)
    page = c.get("/today").text
    rows = today_rows(page)
    assert list(rows) == ["区发展和改革局"] and rows["区发展和改革局"] == ["2", "0", "1", "1", "0"]
    assert "范围：区发展和改革局。" in page
    ticket = c.get("/tickets/T1214D01")
    assert ticket.status_code == 200
    assert "138****5678" in ticket.text and "13812345678" not in ticket.text
    assert "张*" in ticket.text
    # another unit's ticket, list and record: refused, even by editing the URL
    for path in ("/tickets/T1214D02", "/tickets?unit=D02&list=overdue", "/units/D02"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "Traceback" not in r.text
    # the district-wide list only holds its own unit's tickets
    assert re.findall(r'href="/tickets/(T\w+)"', c.get("/tickets?list=open").text) == ["T1214D01", "T1217D01"]


def test_leader_in_charge_sees_the_units_overseen(console):
    page = console(DEPUTY1).get("/today").text
    rows = today_rows(page)
    # the seven units overseen (db/seed/district.yaml), D01 first by its overdue ticket; not D02, D03
    assert len(rows) == 7 and next(iter(rows)) == "区发展和改革局" and rows["区发展和改革局"] == ["2", "0", "1", "1", "0"]
    assert all(v == ["0"] * 5 for k, v in rows.items() if k != "区发展和改革局")
    assert "区教育和体育局" not in rows and "区公安分局" not in rows
    assert "范围：区发展和改革局、" in page
    assert console(DEPUTY1).get("/tickets/T1214D03").status_code == 403


def test_justice_bureau_sees_law_enforcement_tickets_only(console):
    c = console(JUSTICE)
    rows = today_rows(c.get("/today").text)
    assert list(rows) == ["区公安分局"] and rows["区公安分局"] == ["1", "0", "0", "1", "0"]
    assert c.get("/tickets/T1214D03").status_code == 200
    assert c.get("/tickets/T1214D01").status_code == 403
    assert c.get("/units/D03").status_code == 403


def test_documents_are_scoped_and_downloadable(console):
    centre = console(CENTRE)
    listing = centre.get("/documents")
    titles = re.findall(r'<a href="/documents/(\d+)">([^<]+)</a>', listing.text)
    kinds = [t for _, t in titles]
    assert kinds.count("12345热线工单督办函") == 4 and kinds.count("12345热线工单日调度") == 1
    # search by ticket number: D02's letter and the sheet (overdue) name T1214D02; only the sheet
    # names T1217D01 (预警, in its complete list)
    def found(number):
        page = centre.get("/documents", params={"number": number}).text
        return sorted(t for _, t in re.findall(r'<a href="/documents/(\d+)">([^<]+)</a>', page))
    assert found("T1214D02") == ["12345热线工单日调度", "12345热线工单督办函"]
    assert found("T1217D01") == ["12345热线工单日调度"]
    # the liaison of D01 sees its own unit's letter only: not the centre's daily sheet, not D02's letter
    liaison = console(LIAISON_D01)
    listing = liaison.get("/documents").text
    mine = re.findall(r'<a href="/documents/(\d+)">([^<]+)</a>', listing)
    assert [t for _, t in mine] == ["12345热线工单督办函"]
    # its 发文字号 as the letter prints it (config/documents.yaml: 莱 + 热线督), its key in words
    assert re.search(r"莱政办督〔2026〕\d+号", listing) and "2026年12月21日 · 区发展和改革局" in listing
    doc_id = mine[0][0]
    detail = liaison.get(f"/documents/{doc_id}")
    assert "liaison.d01@example.gov.cn" in detail.text and "head.d01@example.gov.cn" in detail.text
    pdf = liaison.get(f"/documents/{doc_id}/v1.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    others = {i for i, t in titles} - {doc_id}
    for other in others:
        assert liaison.get(f"/documents/{other}").status_code == 403
        assert liaison.get(f"/documents/{other}/v1.pdf").status_code == 403


def test_actions_need_operations_confirmation_and_csrf(console):
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import ConsoleAction, OutboxMessage

    with session_scope() as s:
        message = s.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")
                            .order_by(OutboxMessage.id)).first().id
    centre = console(CENTRE)
    assert centre.get("/runs").status_code == 200            # the centre reads the runs page …
    assert centre.get(f"/outbox/{message}/hold").status_code == 403   # … but does not act
    assert console(LIAISON_D01).get("/runs").status_code == 403
    ops = console(OPS)
    confirm = ops.get(f"/outbox/{message}/hold")
    assert confirm.status_code == 200 and "确认" in confirm.text
    # no token, or a wrong one: refused, nothing changed
    assert ops.post(f"/outbox/{message}/hold", data={}).status_code == 403
    assert ops.post(f"/outbox/{message}/hold", data={"csrf": "forged"}).status_code == 403
    with session_scope() as s:
        assert s.get(OutboxMessage, message).state == "pending"
    token = re.search(r'name="csrf" value="([^"]+)"', confirm.text).group(1)
    done = ops.post(f"/outbox/{message}/hold", data={"csrf": token})
    assert done.status_code == 200 and f"第 {message} 号邮件已暂缓发送" in done.text
    with session_scope() as s:
        row = s.get(OutboxMessage, message)
        assert (row.state, row.operator) == ("held", OPS)
        action = s.scalars(select(ConsoleAction).where(ConsoleAction.action == "hold")).one()
        assert (action.user_email, action.target, action.result) == (OPS, f"message {message}", "pending → held")


def test_rerun_a_period_from_the_runs_page(console):
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import ConsoleAction, Run

    with session_scope() as s:
        run = s.scalars(select(Run).where(Run.job == "daily_sheet")).one()
        run_id, attempts = run.id, run.attempts
    ops = console(OPS)
    page = ops.get("/runs")
    assert f'href="/runs/{run_id}/rerun"' in page.text
    token = csrf(ops, f"/runs/{run_id}/rerun")
    done = ops.post(f"/runs/{run_id}/rerun", data={"csrf": token})
    assert done.status_code == 200 and "已重新排队" in done.text
    with session_scope() as s:
        run = s.get(Run, run_id)
        assert run.state == "succeeded" and run.attempts == attempts + 1   # executed after the answer
        assert s.scalars(select(ConsoleAction.result).where(ConsoleAction.action == "rerun")).one().startswith(
            "daily_sheet 2026-12-21")


def test_bad_requests_are_answered_in_words(console):
    c = console(CENTRE)
    cases = {"/tickets?list=bogus": (400, "list 只能是"), "/tickets/NOPE": (404, "没有编号为“NOPE”的工单"),
             "/units/ZZ9": (404, "没有编码为“ZZ9”的单位"), "/documents?page=abc": (400, "参数 page"),
             "/documents/999999": (404, "没有该文书"), "/no-such-page": (404, "没有这个页面")}
    for path, (status, words) in cases.items():
        r = c.get(path)
        assert r.status_code == status, path
        assert words in r.text, path
        assert "Traceback" not in r.text


def test_an_unexpected_error_is_a_page_with_a_reference(console, monkeypatch):
    from starlette.testclient import TestClient

    from worker.web import pages

    monkeypatch.setattr(pages, "today", lambda *a, **k: 1 / 0)
    c = TestClient(console().app, base_url="https://testserver", raise_server_exceptions=False)
    login(c, CENTRE)
    r = c.get("/today")
    assert r.status_code == 500
    assert "参考编号" in r.text and "ZeroDivisionError" not in r.text and "Traceback" not in r.text


def test_logins_are_rate_limited_and_cookies_are_guarded(console):
    c = console()
    assert c.get("/today", follow_redirects=False).headers["location"] == "/login"
    for _ in range(5):
        r = c.post("/login", data={"email": CENTRE, "password": "wrong", "csrf": csrf(c, "/login")})
        assert r.status_code == 401 and "账号或密码不正确" in r.text
    r = c.post("/login", data={"email": CENTRE, "password": PASSWORD, "csrf": csrf(c, "/login")})
    assert r.status_code == 429 and "登录尝试过多" in r.text
    # an unknown login is told the same words as a wrong password
    r = c.post("/login", data={"email": "nobody@example.gov.cn", "password": PASSWORD, "csrf": csrf(c, "/login")})
    assert r.status_code == 401 and "账号或密码不正确" in r.text
    # a login without a CSRF token is refused
    assert c.post("/login", data={"email": LIAISON_D01, "password": PASSWORD}).status_code == 403
    ok = console().post("/login", data={"email": LIAISON_D01, "password": PASSWORD}, follow_redirects=False)
    assert ok.status_code == 403
    fresh = console()
    r = login(fresh, LIAISON_D01)
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "secure" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = fresh.get("/today")
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_disabled_login_loses_its_session(console):
    c = console(LIAISON_D01)
    assert c.get("/today").status_code == 200
    assert cli("console-user", "disable", LIAISON_D01).exit_code == 0
    assert c.get("/today", follow_redirects=False).headers["location"] == "/login"


def test_reverse_proxy_login_is_off_by_default(console):
    from starlette.testclient import TestClient

    from worker.web.app import create_app

    c = console()
    r = c.get("/today", headers={"X-Remote-User": CENTRE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"   # the header is not trusted
    proxied = TestClient(create_app(secret="s", clock=lambda: NOW, remote_user_header="X-Remote-User"),
                         base_url="https://testserver")
    assert today_rows(proxied.get("/today", headers={"X-Remote-User": LIAISON_D01}).text).keys() == {"区发展和改革局"}
    assert proxied.get("/today", headers={"X-Remote-User": "stranger@example.gov.cn"}).status_code == 403


def test_unit_page_rates_with_numerators_and_denominators(console, history):
    c = console(CENTRE)
    page = c.get("/units/D01")
    assert page.status_code == 200
    letters = page.text.split('id="letters"')[1].split("</table>")[0]
    assert "T1214D01" in letters and "T1217D01" not in letters
    assert "<svg" in page.text
    weeks = page.text.split('id="weeks"')[1].split("</table>")[0]
    # week 14–20 Dec: D01 received two dispatches, both signed within 24 hours: 响应率 2/2
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", weeks, re.DOTALL) if "12月14日" in r)
    cells = [re.sub(r"<[^>]+>", " ", x).split() for x in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
    assert cells[1] == ["2"] and cells[2][-1] == "2/2"


def test_console_user_needs_a_directory_entry_or_operations(db):
    refused = cli("console-user", "add", "stranger@example.gov.cn", "--password-stdin", input=PASSWORD + "\n")
    assert refused.exit_code == 2 and "not in the directory" in refused.output
    short = cli("console-user", "add", CENTRE, "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    listed = cli("console-user", "list")
    assert "stranger@" not in listed.output and CENTRE not in listed.output


def test_long_lists_come_in_pages(console, monkeypatch):
    from worker.web import pages

    monkeypatch.setattr(pages, "TICKETS_PER_PAGE", 1)
    c = console(CENTRE)
    first, second = (c.get("/tickets", params={"unit": "D01", "list": "open", "page": n}) for n in (1, 2))
    assert re.findall(r'href="/tickets/(T\w+)"', first.text) == ["T1214D01"] and "第 1/2 页" in first.text
    assert re.findall(r'href="/tickets/(T\w+)"', second.text) == ["T1217D01"]
    assert "（2 件）" in first.text
    beyond = c.get("/tickets", params={"unit": "D01", "list": "open", "page": 3})
    assert beyond.status_code == 400 and "共 2 页，没有第 3 页" in beyond.text


def test_requests_are_logged_without_queries_or_logins(console, caplog):
    import logging

    c = console()
    with caplog.at_level(logging.INFO, logger="hotline.web"):
        login(c, LIAISON_D01)
        c.get("/tickets", params={"unit": "D01", "list": "overdue"})
        c.get("/documents", params={"number": "T1214D01"})
    lines = [r.getMessage() for r in caplog.records if r.name == "hotline.web"]
    assert any(line.startswith("GET /tickets 200 ") for line in lines)
    assert not any("?" in line or "@" in line or "T1214D01" in line or "D01" in line for line in lines), lines


def test_hotline_web_serves_the_console(db, tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "web", "--port", str(port), "--insecure-cookies"],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 30, None
        while time.monotonic() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            except OSError:
                time.sleep(0.2)
        assert body == b"ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
            assert "账号（电子邮箱）" in answer.read().decode()
            cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" not in cookie   # --insecure-cookies: plain HTTP
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert f"console on http://127.0.0.1:{port}/" in out
