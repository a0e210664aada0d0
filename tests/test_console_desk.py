"""The today page as each unit's desk (issue 35 item 1) and the lists as work lists (item 4).

test_web's district and history; the console's clock Monday 21 December 2026, 09:00.  T1214D01 is
past its completion due of Thu 17 Dec 23:59:59 (3 days 9 hours: 超期3天); T1217D01 falls due Tue
22 Dec 23:59:59 (38 hours 59 minutes left: 剩余38小时).
"""
from __future__ import annotations

import re

from tests import test_web
from tests.test_web import CENTRE, DEPUTY1, LIAISON_D01

console = test_web.console


def cells(html: str, table_class: str) -> list[list[str]]:
    body = html.split(f'class="grid {table_class}"')[1].split("</table>")[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.DOTALL)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>")[1], re.DOTALL)]


def test_liaison_desk_lists_its_tickets_by_due_time_with_time_left(console):
    page = console(LIAISON_D01).get("/today").text
    assert "区发展和改革局：今日待办（超期 1 件，预警 1 件" in page
    rows = cells(page, "worklist")
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("T1214D01", "办结时限", "2026-12-17 23:59", "超期3天"),
        ("T1217D01", "办结时限", "2026-12-22 23:59", "剩余38小时")]


def test_the_desk_daily_list_is_the_e_mail_s(console):
    from sqlalchemy import select

    from tests.test_web import cli
    from worker.db import session_scope
    from worker.models import OutboxMessage

    assert cli("run", "unit_daily", "--at", "2026-12-21 09:00", "--inline").exit_code == 0
    with session_scope() as s:
        mail = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_email == LIAISON_D01,
                                                     OutboxMessage.subject.contains("工单提醒"))).one().body_text
    page = console(LIAISON_D01).get("/today").text
    desk = re.findall(r'<ol class="daily">(.*?)</ol>', page, re.DOTALL)
    lines = [re.sub(r"<[^>]+>", "", li) for block in desk for li in re.findall(r"<li>(.*?)</li>", block, re.DOTALL)]
    assert lines == ["T1217D01：反映物业问题（办结时限 12月22日 23:59）"]
    assert all(line in mail for line in lines)


def test_leader_sees_a_desk_per_unit_worst_first_and_the_centre_the_district(console):
    page = console(DEPUTY1).get("/today").text
    desks = re.findall(r"<h2>(\S+)：今日待办（超期 (\d+) 件", page)
    assert len(desks) > 1 and [int(n) for _, n in desks] == sorted((int(n) for _, n in desks), reverse=True)
    centre = console(CENTRE).get("/today").text
    assert re.findall(r"<h2>(\S+)：今日待办", centre) == ["全区"]
    late = [r[0] for r in cells(centre, "worklist") if "超期" in r[-1]]
    # every overdue ticket of the district, longest overdue first
    assert late[:3] == ["T1214D01", "T1214D02", "T1214D03"] and "T1215RT" in late


def test_lists_are_scoped_in_their_titles_and_count_what_they_list(console):
    liaison = console(LIAISON_D01).get("/tickets", params={"list": "overdue"}).text
    assert "<h1>区发展和改革局 · 超期工单（1 件）</h1>" in liaison and "全区" not in liaison.split("<h1>")[1]
    centre = console(CENTRE)
    total = re.search(r'list=returned_twice">(\d+)</a></td></tr></tfoot>', centre.get("/today").text).group(1)
    listed = centre.get("/tickets", params={"list": "returned_twice"}).text
    rows = re.findall(r'<a href="/tickets/(\w+)">', listed)
    assert total == "1" and rows == ["T1215RT"] and "（1 件）" in listed
    assert "<td>区民政局、区司法局</td>" in listed   # one row, both returning units


def test_the_law_push_xlsx_is_downloadable_by_the_justice_bureau_only(console):
    from io import BytesIO

    from openpyxl import load_workbook

    from tests.test_web import JUSTICE, cli

    assert cli("run", "law_push", "--at", "2026-12-15 09:00", "--inline").exit_code == 0   # T1214D03 is new then
    justice = console(JUSTICE)
    listing = justice.get("/documents", params={"kind": "law_push"}).text
    doc_id = re.search(r'<a href="/documents/(\d+)">', listing).group(1)
    link = re.search(r'href="(/documents/\d+/files/[0-9a-f]{64})"[^>]*>下载 XLSX', justice.get(f"/documents/{doc_id}").text)
    answer = justice.get(link.group(1))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = load_workbook(BytesIO(answer.content)).active
    assert "T1214D03" in [str(c.value) for row in sheet.iter_rows() for c in row]
    assert console(LIAISON_D01).get(link.group(1)).status_code == 403


def test_unit_chart_has_an_axis_values_the_requirement_and_the_tables_labels(console):
    page = console(CENTRE).get("/units/D01").text
    chart = page.split('<svg class="chart"')[1].split("</svg>")[0]
    weeks = page.split('id="weeks"')[1].split("</table>")[0]
    table_labels = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r'<tr><td class="nowrap">(.*?)</td>', weeks)]
    assert re.findall(r'class="period">([^<]+)</text>', chart) == table_labels and "12月14日–20日" in table_labels
    assert re.findall(r'class="tick">([^<]+)</text>', chart) == ["0%", "25%", "50%", "75%", "100%"]
    assert "要求 90.0%" in chart      # config/metrics.yaml: both rates required at 0.90
    assert 'class="value">' in chart


def test_unit_page_periods_are_kept_until_the_next_import(console, monkeypatch):
    from tests.conftest import History
    from worker.web import cache

    c = console(CENTRE)
    computed = []
    real = cache.compute
    monkeypatch.setattr(cache, "compute", lambda s, p, **k: computed.append(p.key) or real(s, p, **k))
    c.get("/units/D01")
    first = len(computed)
    c.get("/units/D02")
    assert first > 0 and len(computed) == first          # the second unit page computes nothing again
    more = History()
    more.ticket("T1221D01", "2026-12-21 07:00").dispatch("2026-12-21 08:00", "D01")
    more.store()                                         # an import: the periods are counted again
    c.get("/units/D01")
    assert len(computed) == 2 * first


def test_codes_are_shown_in_words(console):
    from tests.test_web import OPS

    ticket = console(CENTRE).get("/tickets/T1214D01").text
    assert "<dt>来源</dt><dd>市12345</dd>" in ticket and ">city<" not in ticket
    runs = console(OPS).get("/runs").text
    assert "<td>日调度</td>" in runs and "<td>daily_sheet</td>" not in runs
