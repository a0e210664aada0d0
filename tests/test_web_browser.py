"""The console as people use it: Debian's Chromium driven by Playwright against a real server.

Under CI=true these run (a missing browser fails them); elsewhere a machine without Chromium or
Playwright skips them, and says so.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, unavailable
from tests.test_web import CENTRE, LIAISON_D01, NOW, OPS, PASSWORD, prepare


def serve(clock):
    """A console on a free port, in a thread; ``clock``: its moment, or a function giving it."""
    import uvicorn

    from worker.web.app import create_app

    app = create_app(secret="browser-test", clock=clock if callable(clock) else lambda: clock, secure_cookies=False)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the console did not start"
    return srv, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def server(sqlite_db, world, history):
    jobs = (("daily_sheet", "2026-12-21 09:00"), ("supervision", "2026-12-21 09:00"), ("weekly_bulletin", "2026-12-16 12:00"))
    world(("console", jobs), lambda: prepare(history, jobs=jobs))
    srv, thread, base = serve(NOW)
    yield base
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("Chromium (apt-get install chromium)", FileNotFoundError("chromium"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", exc)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(browser, base: str, email: str, viewport: tuple[int, int] = (1280, 900)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    page.goto(base + "/login")
    page.get_by_label("账号（电子邮箱）").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/today")
    return page


def test_centre_follows_the_overdue_count_to_the_ticket(server, browser, tmp_path):
    page = sign_in(browser, server, CENTRE)
    assert page.get_by_role("heading", name="今日工单情况").is_visible()
    row = page.locator("#today tbody tr", has_text="区发展和改革局")
    assert row.locator("td").all_inner_texts() == ["区发展和改革局", "2", "0", "1", "1", "0"]
    row.locator("td.late a").click()
    page.wait_for_url("**/tickets?unit=D01&list=overdue")
    assert page.get_by_role("heading").first.inner_text() == "区发展和改革局 · 超期工单（1 件）"
    page.get_by_role("link", name="T1214D01").click()
    page.wait_for_url("**/tickets/T1214D01")
    facts = page.locator("dl.facts").inner_text()
    assert "13812345678" in facts and "张三" in facts
    clocks = page.locator("#clocks tbody tr").first.inner_text()
    assert "2026-12-17 23:59" in clocks and "已超期" in clocks
    page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)


def test_liaison_sees_its_unit_masked_and_downloads_the_bulletin(server, browser):
    from io import BytesIO

    from pypdf import PdfReader

    page = sign_in(browser, server, LIAISON_D01)
    units = page.locator("#today tbody tr td:first-child").all_inner_texts()
    assert units == ["区发展和改革局"]
    page.locator("#today tbody td.late a").click()
    page.get_by_role("link", name="T1214D01").click()
    facts = page.locator("dl.facts").inner_text()
    assert "138****5678" in facts and "13812345678" not in facts
    # another unit's ticket, by editing the address: refused
    answer = page.goto(server + "/tickets/T1214D02")
    assert answer.status == 403 and "不在您的查看范围内" in page.content()
    page.goto(server + "/documents")
    page.get_by_role("link", name="12345热线工作周通报").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 PDF").click()
    data = Path(download.value.path()).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(data)).pages)
    assert "12345热线工作周通报" in text.replace(" ", "")
    assert download.value.suggested_filename.startswith("12345热线工作周通报")


def test_operations_holds_a_message_after_confirming(server, browser):
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import OutboxMessage

    page = sign_in(browser, server, OPS)
    page.get_by_role("link", name="运行").click()
    first = page.locator("#messages tbody tr", has=page.get_by_role("link", name="暂缓")).first
    message_id = int(first.locator("td").first.inner_text())
    first.get_by_role("link", name="暂缓").click()
    assert "暂缓发送" in page.locator("p.question").inner_text()
    page.get_by_role("button", name="确认").click()
    page.wait_for_url("**/runs#outbox")
    assert page.locator("p.flash").inner_text() == f"第 {message_id} 号邮件已暂缓发送。"
    row = page.locator("#messages tbody tr", has=page.locator("td", has_text=str(message_id))).first
    assert "暂缓" in row.inner_text() and OPS in row.inner_text()
    with session_scope() as s:
        assert s.scalar(select(OutboxMessage.state).where(OutboxMessage.id == message_id)) == "held"
