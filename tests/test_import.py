"""Import of platform exports: idempotence, encodings, formats, and bad rows reported by line."""
from __future__ import annotations

import csv
import json
import os
import shutil

from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Assignment, Ticket, TicketEvent

SAMPLE = PROJECT_ROOT / "db" / "seed" / "sample-export.csv"


def snapshot():
    """Everything an import writes, as comparable rows."""
    with session_scope() as s:
        tickets = s.execute(select(Ticket.number, Ticket.content, Ticket.caller_phone, Ticket.received_at)
                            .order_by(Ticket.number)).all()
        events = s.execute(select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.unit_code,
                                  TicketEvent.id).order_by(TicketEvent.id)).all()
        asg = s.execute(select(Assignment.ticket_id, Assignment.seq, Assignment.unit_code, Assignment.completion_due,
                               Assignment.finished_at).order_by(Assignment.ticket_id, Assignment.seq)).all()
    return tickets, events, asg


def run(*args):
    return CliRunner().invoke(main, list(args))


def rows_of(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_sample_export_twice_changes_nothing(db):
    res = run("import", str(SAMPLE))
    assert res.exit_code == 0, res.output
    first = snapshot()
    assert len(first[0]) == 45 and len(first[1]) == 144      # 39 of them 联系 (contact) events
    res = run("import", str(SAMPLE))
    assert res.exit_code == 0
    assert ("144 rows read: 0 stored, 144 unchanged, 0 refused; tickets 0 new, 0 corrected; "
            "events 0 new, 0 corrected; encoding UTF-8") in res.output
    assert snapshot() == first


def test_new_tickets_derive_from_the_rows_in_hand_as_from_the_stored_history(db, tmp_path, monkeypatch):
    """A batch's new tickets are derived from the events the importer holds, not read back: the
    assignments, clock rows, per-day rollup and analysis queue must be exactly what deriving them
    again from the stored history gives (hotline recompute), over a synthetic district's weeks of
    dispatches, returns, extensions, redos and callbacks, in batches that end between tickets (on
    PostgreSQL the bulk load derives them in SQL: the same comparison holds its twin to the replay)."""
    from datetime import date, datetime, timedelta

    from worker import assignments, bulk_load
    from worker.calendar import load_calendar
    from worker.demo_data import Generator, write_export
    from worker.models import AnalysisItem, AssignmentClock, ClockDay

    export = tmp_path / "export.csv"
    start = date(2026, 9, 1)
    write_export(export, Generator(load_calendar(), seed=5, per_day=12).tickets(
        start, start + timedelta(days=34), datetime(2026, 10, 20)))
    fresh_seen, refresh, derive = [], assignments.refresh, bulk_load.derive
    monkeypatch.setattr("worker.importer.BATCH_ROWS", 500)
    monkeypatch.setattr("worker.bulk_load.CHUNK_ROWS", 500)   # the bulk load (PostgreSQL) derives by chunks
    monkeypatch.setattr("worker.importer.refresh", lambda *a, fresh=None, **k: (
        fresh_seen.append(len(fresh or {})), refresh(*a, fresh=fresh, **k))[1])
    # On PostgreSQL, by the SQL twin of the replay (worker.bulk_derive): recompute is the Python one.
    monkeypatch.setattr("worker.bulk_load.derive", lambda conn, cal, rules, ids: (
        fresh_seen.append(len(ids)), derive(conn, cal, rules, ids))[1])

    def derived():
        with session_scope() as s:
            out = []
            for model, order in ((Assignment, ("ticket_id", "seq")), (AssignmentClock, ("ticket_id", "seq", "clock")),
                                 (ClockDay, ("day", "unit_code", "clock")), (AnalysisItem, ("ticket_id",))):
                columns = [c for c in model.__table__.columns if c.name != "id"]
                out.append(s.execute(select(*columns).order_by(*(getattr(model, k) for k in order))).all())
            return out

    res = run("import", str(export))
    assert res.exit_code == 0 and " 0 refused" in res.output, res.output
    with session_scope() as s:
        tickets = s.scalar(select(func.count()).select_from(Ticket))
    assert sum(fresh_seen) == tickets > 300 and len(fresh_seen) > 1   # every ticket new, several batches
    imported = derived()
    assert len(imported[0]) > tickets and imported[3]   # re-dispatches after returns; the analysis queue
    assert run("recompute").exit_code == 0
    assert derived() == imported


def test_bulk_import_refreshes_the_planner_statistics(db, monkeypatch):
    """A large import ends with ANALYZE (and on PostgreSQL VACUUM, for index-only period scans);
    a small one leaves that to autovacuum."""
    from sqlalchemy import text

    import worker.importer
    import worker.imports

    def analysed():
        with session_scope() as s:
            if db == "postgres":
                return s.execute(text("select last_vacuum is not null and last_analyze is not null "
                                      "from pg_stat_user_tables where relname = 'assignment_clocks'")).scalar()
            return bool(s.execute(text("select count(*) from sqlite_master where name = 'sqlite_stat1'")).scalar())

    assert run("import", str(SAMPLE)).exit_code == 0 and not analysed()    # 144 events: below the threshold
    monkeypatch.setattr(worker.importer, "ANALYZE_AFTER_EVENTS", 1)
    with session_scope() as s:
        s.execute(TicketEvent.__table__.delete())
    assert run("import", str(SAMPLE)).exit_code == 0 and analysed()


def test_a_large_import_keeps_the_planner_informed_as_it_grows(postgres_db, monkeypatch):
    """On PostgreSQL the statistics are refreshed whenever the events have doubled since the planner
    last looked (here from 10 events, in batches of about 10 rows: near 10, 20, 40 and 80 of the 144
    events, as the batches fall between tickets), then once more at the end: without it a fresh
    database is planned as empty.  Importing the same file again adds nothing, and analyses nothing."""
    from sqlalchemy import text

    import worker.importer
    import worker.imports
    from worker.calendar import load_calendar
    from worker.db import session_factory
    from worker.rules import load_rules

    monkeypatch.setattr(worker.importer, "ANALYZE_AFTER_EVENTS", 10)
    report = worker.imports.import_file(session_factory(), SAMPLE, load_calendar(), load_rules(), batch_size=10,
                                         bulk=False)
    assert report.events_new == 144
    def analyses():
        with session_scope() as s:
            return s.execute(text("select analyze_count from pg_stat_user_tables where relname = 'ticket_events'")).scalar()
    grown = analyses()
    assert 4 <= grown <= 5   # three or four while it grew (where the batches end), one at the end
    again = worker.imports.import_file(session_factory(), SAMPLE, load_calendar(), load_rules(), batch_size=10,
                                        bulk=False)
    assert again.events_new == 0 and analyses() == grown


def test_newer_export_updates_tickets_and_appends_new_events(sqlite_db, tmp_path):
    rows = rows_of(SAMPLE)
    header, body = rows[0], rows[1:]
    number = body[0][0]
    older = [r for r in body if r[0] != number or r[header.index("环节")] == "交办"]
    write_rows(tmp_path / "old.csv", [header] + older)
    assert run("import", str(tmp_path / "old.csv")).exit_code == 0
    changed = [list(r) for r in body]
    for r in changed:
        if r[0] == number:
            r[header.index("诉求内容")] = "更正后的诉求内容"
    write_rows(tmp_path / "new.csv", [header] + changed)
    res = run("import", str(tmp_path / "new.csv"))
    assert res.exit_code == 0, res.output
    n_new = len(body) - len(older)
    assert f"tickets 0 new, 1 corrected; events {n_new} new, 0 corrected" in res.output
    with session_scope() as s:
        assert s.scalar(select(Ticket.content).where(Ticket.number == number)) == "更正后的诉求内容"


def test_gbk_csv_with_chinese_headers(sqlite_db, tmp_path):
    rows = rows_of(SAMPLE)[:30]
    path = tmp_path / "export-gbk.csv"
    write_rows(path, rows, encoding="gbk")
    res = run("import", str(path))
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == 29
        assert "反映" in s.scalar(select(Ticket.content).limit(1))


def test_forced_wrong_encoding_is_one_clear_error(sqlite_db, tmp_path):
    path = tmp_path / "export-gbk.csv"
    write_rows(path, rows_of(SAMPLE)[:10], encoding="gbk")
    res = run("import", "--encoding", "utf-8", str(path))
    assert res.exit_code == 1 and "cannot be decoded as utf-8" in res.output
    assert snapshot()[0] == []


def test_mixed_good_and_bad_rows(sqlite_db, tmp_path):
    rows = rows_of(SAMPLE)
    header = rows[0]
    col = {h: i for i, h in enumerate(header)}
    good = rows[1:8]
    bad_unit = list(rows[8]); bad_unit[col["承办单位"]] = "X99"
    bad_time = list(rows[9]); bad_time[col["环节时间"]] = "2026-13-45 25:00"
    no_number = list(rows[10]); no_number[col["工单编号"]] = ""
    bad_cat = list(rows[11]); bad_cat[col["事项编码"]] = "9999"
    future = list(rows[12]); future[col["环节时间"]] = "2099-01-01 10:00"
    huge = list(rows[13]); huge[col["诉求内容"]] = "长" * 1_000_000
    short = rows[14][:5]
    write_rows(tmp_path / "mixed.csv", [header] + good + [bad_unit, bad_time, no_number, bad_cat, future, huge, short])
    res = run("import", str(tmp_path / "mixed.csv"))
    assert res.exit_code == 1
    out = res.output
    assert "mixed.csv:9: 承办单位: unknown unit 'X99'" in out
    assert "mixed.csv:10: 环节时间: bad timestamp" in out
    assert "mixed.csv:11: 工单编号 (工单编号) is missing" in out
    assert "mixed.csv:12: 事项编码: unknown category '9999'" in out
    assert "mixed.csv:13: 环节时间: 2099-01-01 10:00:00 is in the future" in out
    assert "mixed.csv:14: 诉求内容: 1000000 characters" in out
    assert "mixed.csv:15: 5 columns, the header has 25" in out
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == 7


def test_conflicting_duplicate_ticket_number_is_refused(sqlite_db, tmp_path):
    rows = rows_of(SAMPLE)
    header, first = rows[0], rows[1]
    second = list(rows[2]) if rows[2][0] == first[0] else list(first)
    second[0] = first[0]
    second[header.index("联系电话")] = "13000000000"
    second[header.index("环节")] = "签收"
    write_rows(tmp_path / "dup.csv", [header, first, second])
    res = run("import", str(tmp_path / "dup.csv"))
    assert res.exit_code == 1 and "dup.csv:3: ticket" in res.output and "conflicts with line 2" in res.output


def test_unknown_format_and_dry_run(sqlite_db, tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4")
    res = run("import", str(tmp_path / "x.pdf"))
    assert res.exit_code == 1 and "unknown format .pdf" in res.output
    res = run("import", "--dry-run", str(SAMPLE))
    assert res.exit_code == 0 and "144 rows read: 144 valid, 0 refused (dry run, nothing stored)" in res.output
    assert snapshot()[0] == []


def test_xlsx_and_jsonl(sqlite_db, tmp_path):
    from openpyxl import Workbook

    rows = rows_of(SAMPLE)[:40]
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    wb.save(tmp_path / "export.xlsx")
    assert run("import", str(tmp_path / "export.xlsx")).exit_code == 0
    header = rows[0]
    with open(tmp_path / "export.jsonl", "w", encoding="utf-8") as fh:
        for r in rows_of(SAMPLE)[40:80]:
            fh.write(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n")
        fh.write("{not json\n")
    res = run("import", str(tmp_path / "export.jsonl"))
    assert res.exit_code == 1 and "export.jsonl:41: not valid JSON" in res.output
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == 39 + 40


def test_truncated_xlsx_is_refused_whole(sqlite_db, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    for r in rows_of(SAMPLE)[:20]:
        wb.active.append(r)
    wb.save(tmp_path / "full.xlsx")
    data = (tmp_path / "full.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    res = run("import", str(tmp_path / "cut.xlsx"))
    assert res.exit_code == 1 and "cut.xlsx" in res.output
    assert snapshot()[0] == []


def test_inbox_actor_moves_files_with_a_report(sqlite_db, env, tmp_path):
    from worker.config import load_settings

    inbox = load_settings().inbox_dir
    inbox.mkdir(parents=True)
    shutil.copy(SAMPLE, inbox / "good.csv")
    (inbox / "bad.txt").write_text("nothing", encoding="utf-8")
    for f in inbox.iterdir():   # written long enough ago to be complete (inbox_quiet_seconds)
        os.utime(f, (f.stat().st_mtime - 600, f.stat().st_mtime - 600))
    res = run("run", "process_inbox", "--inline", "--at", "2026-11-05 10:00")
    assert res.exit_code == 0, res.output
    assert (inbox / "done" / "good.csv").exists() and (inbox / "failed" / "bad.txt").exists()
    assert "unknown format" in (inbox / "failed" / "bad.txt.report.txt").read_text(encoding="utf-8")
    assert "45" in (inbox / "done" / "good.csv.report.txt").read_text(encoding="utf-8")


def test_timestamps_with_and_without_zone(sqlite_db, tmp_path):
    """No zone: Asia/Shanghai wall time, as the platform exports it. A zone: converted to Shanghai."""
    rows = rows_of(SAMPLE)
    header, first = rows[0], list(rows[1])
    col = {h: i for i, h in enumerate(header)}
    first[col["环节时间"]] = "2026-11-02T10:30:00+00:00"       # 18:30 in Shanghai
    second = list(rows[2])
    second[col["环节时间"]] = "2026/11/2 20:15"
    write_rows(tmp_path / "tz.csv", [header, first, second])
    res = run("import", str(tmp_path / "tz.csv"))
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        times = sorted(s.scalars(select(TicketEvent.at)))
    assert [t.strftime("%Y-%m-%d %H:%M") for t in times] == ["2026-11-02 18:30", "2026-11-02 20:15"]
