"""The desk in Debian's Chromium (Playwright), per role, at 1366×768: what a liaison, a leader and
the centre act on, and the forecast from Wednesday.  With ``HOTLINE_SCREENSHOTS=docs/img`` the
pages are saved there (docs/console.md shows them); otherwise under the test's temporary folder.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from tests.test_web import CENTRE, DEPUTY1, LIAISON_D01, NOW, prepare
from tests.test_web_browser import browser, serve  # noqa: F401  (browser: the fixture)
from tests.test_web_browser import sign_in as web_sign_in

WEDNESDAY = datetime(2026, 12, 23, 10, 0)


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def desk_server(sqlite_db, world, history, request):
    world(("console",), lambda: prepare(history))
    srv, thread, base = serve(getattr(request, "param", NOW))
    yield base
    srv.should_exit = True
    thread.join(10)


def sign_in(b, base: str, email: str):
    """Signed in at the issue's screen size, 1366×768."""
    return web_sign_in(b, base, email, (1366, 768))


def test_liaison_acts_from_its_desk(desk_server, browser, tmp_path):  # noqa: F811
    page = sign_in(browser, desk_server, LIAISON_D01)
    desk = page.locator("section.desk")
    assert desk.count() == 1
    assert desk.get_by_role("heading", level=2).inner_text() == "区发展和改革局：今日待办（超期 1 件，预警 1 件，督办 1 件）"
    rows = desk.locator("table.worklist tbody tr")
    assert rows.nth(0).locator("td").all_inner_texts() == ["T1214D01", "小区路灯不亮", "办结时限", "2026-12-17 23:59", "超期3天"]
    assert rows.nth(1).locator("td").last.inner_text() == "剩余38小时"
    assert desk.locator("table.letters tbody tr").first.locator("td").all_inner_texts() == [
        "T1214D01", "办结", "2026-12-21", "2026-12-22", "办理中", "未答复"]
    page.screenshot(path=str(shots(tmp_path) / "console-liaison-today.png"), full_page=True)
    rows.nth(0).get_by_role("link", name="T1214D01").click()
    page.wait_for_url("**/tickets/T1214D01")
    assert "138****5678" in page.locator("dl.facts").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "console-ticket.png"), full_page=True)


def test_leader_sees_each_unit_worst_first_and_the_centre_the_district(desk_server, browser):  # noqa: F811
    leader = sign_in(browser, desk_server, DEPUTY1)
    titles = leader.locator("section.desk h2").all_inner_texts()
    overdue = [int(t.split("超期 ")[1].split(" 件")[0]) for t in titles]
    assert len(titles) > 1 and overdue == sorted(overdue, reverse=True)
    centre = sign_in(browser, desk_server, CENTRE)
    assert centre.locator("section.desk h2").all_inner_texts()[0].startswith("全区：今日待办（超期 4 件")


@pytest.mark.parametrize("desk_server", [WEDNESDAY], indirect=True)
def test_forecast_from_wednesday(desk_server, browser, tmp_path):  # noqa: F811
    page = sign_in(browser, desk_server, LIAISON_D01)
    forecast = page.locator("section.desk p.forecast").inner_text()
    assert forecast.startswith("本周（截至12月23日 10:00）：解决率") and "尚待回访" in forecast
    page.locator("section.desk").screenshot(path=str(shots(tmp_path) / "console-forecast.png"))


def test_liaison_answers_a_letter_and_the_centre_accepts_it(sqlite_db, world, history, browser, tmp_path, monkeypatch):  # noqa: F811
    """In the browser: D01's liaison (李春生) answers the 督办函 on T1214D01 with a PDF on Wed 23 Dec,
    the centre (潘永强) accepts it (销号) that afternoon; the ledger shows both steps, and the next
    bulletin (21–27 Dec, fired Mon 28 Dec 09:00) lists it as 已销号（12月23日）."""
    import worker.jobs
    from tests.conftest import document_text
    from tests.test_web import cli

    world(("console",), lambda: prepare(history))
    clock = [datetime(2026, 12, 23, 9, 30)]
    srv, thread, base = serve(lambda: clock[0])
    try:
        report = tmp_path / "整改情况报告.pdf"
        report.write_bytes(b"%PDF-1.4\n% rectification\n%%EOF\n")
        page = sign_in(browser, base, LIAISON_D01)
        page.locator("section.desk table.letters").get_by_role("link", name="未答复（逾期）").click()
        page.wait_for_url("**/supervision/T1214D01/completion")
        page.get_by_label("整改落实情况").fill("已于12月22日更换小区路灯并回访来电人，来电人表示满意。")
        page.get_by_label("附件").set_input_files(str(report))
        page.get_by_role("button", name="提交答复").click()
        page.wait_for_url("**/supervision/T1214D01/completion")
        page.screenshot(path=str(shots(tmp_path) / "console-supervision-answer.png"), full_page=True)
        assert page.locator("p.flash").inner_text() == "已提交工单 T1214D01 的整改答复，等待热线中心审核销号。"
        assert page.locator("#steps tbody tr").first.locator("td").all_inner_texts() == [
            "2026-12-23 09:30", "李春生", "答复", "已于12月22日更换小区路灯并回访来电人，来电人表示满意。", "整改情况报告.pdf"]
        clock[0] = datetime(2026, 12, 23, 14, 0)
        centre = sign_in(browser, base, CENTRE)
        centre.get_by_role("link", name="督办").click()
        centre.get_by_role("link", name="待销号审核（1）").click()
        centre.get_by_role("link", name="T1214D01").click()
        centre.get_by_role("button", name="同意销号").click()
        centre.wait_for_url("**/supervision/T1214D01/completion")
        assert centre.locator("#answer-state").inner_text() == "已销号"
        assert centre.locator("#steps tbody tr").nth(1).locator("td").all_inner_texts()[:3] == [
            "2026-12-23 14:00", "潘永强", "销号"]
        centre.goto(base + "/supervision?show=all&unit=D01")
        assert "已销号" in centre.locator("#ledger tbody tr", has_text="T1214D01").inner_text()
    finally:
        srv.should_exit = True
        thread.join(10)
    monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2026, 12, 28, 9, 0))
    assert cli("run", "weekly_bulletin", "--at", "2026-12-23 12:00", "--inline").exit_code == 0
    text = document_text("weekly_bulletin", "2026-W52", flat=True)
    assert "1区发展和改革局T1214D01办结12月23日09:30已销号（12月23日）" in text.split("七、督办函答复及销号情况")[1]
