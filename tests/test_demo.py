"""`hotline demo` as a newcomer runs it (the run's shared demo, tests/conftest.py ``demo``): what it prints, what it leaves in its folder, the commands it
ends with, and a district that gives every document something to report (docs/development.md lists
what each document shows)."""
from __future__ import annotations

import email
import hashlib
import os
import re
import shlex
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta
from email import policy as email_policy
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import free_port, pdf_pages
from worker.config import PROJECT_ROOT


def query(out: Path, sql: str, **params) -> list:
    engine = create_engine(f"sqlite:///{out / 'hotline.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def pdf(path: str | Path) -> str:
    return re.sub(r"\s", "", "".join(pdf_pages(path)))


def document(out: Path, kind: str, scope: str) -> str:
    [(path,)] = query(out, "select path from documents where kind = :kind and scope = :scope", kind=kind, scope=scope)
    return pdf(path)


def test_each_step_is_told_and_each_warning_once_in_the_summary(demo):
    _, stdout = demo
    lines = stdout.splitlines()
    steps = [next(i for i, line in enumerate(lines) if line.startswith(f"{n}/5 ")) for n in range(1, 6)]
    assert steps == sorted(steps)
    # The calendar lacks 2027, which the 60 days after the replay's end reach (config/alerts.yaml
    # calendar_days; the scheduler would alert the owners): said once, after the steps, under its
    # heading, with what to do.
    calendar = [i for i, line in enumerate(lines) if "no holiday data for 2027" in line]
    heading = lines.index("warnings for the operator (each once):")
    assert len(calendar) == 1 and calendar[0] == heading + 1 > steps[-1], stdout
    assert "calendar.yaml" in lines[calendar[0]]
    # Slots the calendar skips: counted under a heading, by reason, never one line each.
    assert "skipped:" not in stdout
    skipped = next(line for line in lines if line.startswith("slots skipped by the calendar ("))
    weekend_days = 6   # Sat/Sun 31 Oct–1 Nov, 7–8 Nov, 14–15 Nov … within 26 Oct–16 Nov
    assert re.search(r"^  not a working day \(\d+\): .*daily-sheet " + str(weekend_days), stdout, re.MULTILINE), skipped


def test_attachments_are_stored_once_and_a_sample_is_written(demo):
    out, stdout = demo
    kinds = {k for (k,) in query(out, "select distinct kind from outbox")}
    files = sorted((out / "outbox").glob("*.eml"))
    assert {re.match(r"\d+-(.+)\.eml", f.name).group(1) for f in files} == kinds        # one of each kind
    assert len(files) == len(kinds)
    states = dict(query(out, "select state, count(*) from outbox group by state"))
    assert states["sent"] == len(files) and states["sent"] + states["pending"] == sum(states.values())
    assert (f"{len(files)} written as .eml files (the first of each kind) in {out / 'outbox'}, "
            f"{states['pending']} left queued") in stdout
    # No document's bytes in the database: the outbox refers to the archive.
    assert query(out, "select count(*) from blobs where sha256 in (select sha256 from document_versions)") == [(0,)]
    archived = {sha: path for sha, path in query(out, "select sha256, path from document_versions")}
    pdfs = 0
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email_policy.default)
        for part in msg.iter_attachments():
            if part.get_content_type() == "application/pdf":
                data = part.get_content()
                assert Path(archived[hashlib.sha256(data).hexdigest()]).read_bytes() == data
                pdfs += 1
    assert pdfs >= 10
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert f"out folder: {size / 1e6:.0f} MB" in stdout


def test_the_closing_commands_work_as_printed(demo):
    out, stdout = demo
    lines = stdout.rstrip().splitlines()
    export, add, web = (line.strip() for line in lines[-3:])
    # In the checkout (where ./run test runs) ./run, elsewhere its full path; run from where the demo ran.
    here = Path.cwd()
    hotline = ("./run" if here.resolve() == PROJECT_ROOT.resolve() else shlex.quote(str(PROJECT_ROOT / "run"))) + " hotline"
    assert export == (f"export DATABASE_URL={shlex.quote(f'sqlite:///{out}/hotline.db')} "
                      f"HOTLINE_VAR={shlex.quote(str(out))}")
    assert add == f"{hotline} console-user add center@example.gov.cn"
    assert web == f"{hotline} web --insecure-cookies --as-of '2026-11-16 10:00'"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOTLINE_VAR")}
    res = subprocess.run(["bash", "-c", f"{export}; {add}"], input="演示口令-12345\n演示口令-12345\n", text=True,
                         check=False, capture_output=True, timeout=120, env=env, cwd=here)
    assert res.returncode == 0, res.stderr
    port = free_port()
    server = subprocess.Popen(["bash", "-c", f"{export}; exec {web} --port {port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, cwd=here, start_new_session=True)
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, server.stderr.read().decode() if server.poll() is not None else "no answer"
        assert "账号（电子邮箱）" in page
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        server.stderr.close()


def test_the_district_gives_every_rule_something_to_report(demo):
    out, _ = demo
    # 反复性 (metrics.yaml repeat: 3 times in 30 days): October's ledger, as of its end, lists the
    # caller who rings every few days and the street lamp reported by neighbours, each with its count.
    end_oct = datetime(2026, 11, 1)
    since = str(end_oct - timedelta(days=30))
    callers = query(out, "select caller_phone from tickets where received_at > :since and received_at <= :end "
                         "group by caller_phone having count(*) >= 3", since=since, end=str(end_oct))
    places = query(out, "select address, category_code from tickets where received_at > :since and "
                        "received_at <= :end group by address, category_code having count(*) >= 3",
                   since=since, end=str(end_oct))
    assert callers and places
    ledger = document(out, "monthly_analysis", "2026-10")
    assert f"群众反复投诉的事项{len(callers) + len(places)}项" in ledger
    for (phone,) in callers:
        assert f"来电人{phone[:3]}****{phone[-4:]}反复来电" in ledger
    assert "港城东大街66号·市政设施维修" in ledger
    # 普遍性 (metrics.yaml widespread: 12 units within a week, or a week's volume at least 10 and
    # twice the weeks before's): the power cut over 14 streets, Monday to Wednesday of the week of
    # 26 Oct, none before.  By Wednesday's sheet (08:30) the streets of Monday and Tuesday have it:
    # 10 tickets against none — a spike — so that sheet tells the centre, with the units by then.
    [(units, volume)] = query(out, "select count(distinct unit_code), count(*) from assignments where "
                                   "category_code = '0902' and seq = 1 and dispatched_at >= '2026-10-26' "
                                   "and dispatched_at <= '2026-10-28 08:30'")
    assert volume >= 10 and units >= 10
    [(subject, body)] = query(out, "select subject, body_text from outbox where kind = 'widespread_alert'")
    assert subject == "【普遍性预警】停电"
    assert f"停电（0902）：{volume} 件，涉及 {units} 个承办单位，前几周周均 0 件，明显上升" in body
    assert "2026年10月28日" in body
    # 屡次不改 (the same address and law-enforcement category 3 times in the month): the inn.
    [(inspections,)] = query(out, "select count(*) from tickets where address = '金都路88号' and category_code = '200601' "
                                  "and received_at >= '2026-10-01' and received_at < '2026-11-01'")
    law_report = document(out, "monthly_law_report", "2026-10")
    assert f"金都路88号乱检查（200601）{inspections}" in law_report
    # The ABCD rating (metrics.yaml rating: A from 95 points, C from 80): the culture and tourism
    # bureau never delays, resolves and satisfies — in October all three rates 100%, 100 points, A; the
    # emergency bureau leaves every third unresolved — C (the ordinary units rate B and D).
    rating = law_report[law_report.index("二、行政执法部门评级"):law_report.index("三、各执法部门受理情况")]
    assert re.search(r"区文化和旅游局\d+100\.00%100\.00%100\.00%100\.00A减少监督", rating), rating
    assert re.search(r"区应急管理局[\d.%]+C加强监督", rating), rating
    # 敏感 by 群体性苗头 (metrics.yaml grading: the first rule naming one of its keywords; the wage
    # claim names 聚集 and no keyword of 极端言行 before it — its 三十余名 alone would make it 重大).  The
    # daily sheet (08:30 on working days, schedules.yaml) lists the 敏感 and 重大 tickets received since
    # the sheet before: the first sheet at or after the ticket came in, its row the number, the time
    # received, the level and the basis (no holiday falls in November 2026).  The row's columns
    # between the number and the level may change; the level and its basis read together.
    [(number, received)] = query(out, "select number, received_at from tickets where content like '%群体讨薪%' "
                                      "and received_at >= '2026-10-26' order by received_at")[:1]
    received = datetime.fromisoformat(str(received))
    day = received.date() if (received.hour, received.minute) <= (8, 30) else received.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    sheet = document(out, "daily_sheet", day.isoformat())
    assert re.search(rf"{number}.{{0,24}}?敏感群体性苗头（聚集）", sheet), (received, sheet)
    # Replies the ticket reports word: 情况不属实 and 列入计划 (national tickets), 不在受理范围 (a provincial one).
    reports = {kind: [pdf(p) for (p,) in query(out, "select path from documents where kind = :k", k=kind)]
               for kind in ("ticket_national_report", "ticket_provincial_form")}
    assert any("情况不属实" in r for r in reports["ticket_national_report"])
    assert any("列入计划" in r for r in reports["ticket_national_report"])
    assert any("答复类型不在受理范围" in r for r in reports["ticket_provincial_form"])
