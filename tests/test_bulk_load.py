"""The bulk load (``worker.bulk_load``, what `hotline import` uses on PostgreSQL) stores exactly what
the batch path stores: the same exports — a first one, a corrected re-export, one with bad rows —
imported both ways into two databases, every row of every table the import writes compared
(surrogate ids aside: tickets are compared by their 工单编号)."""
from __future__ import annotations

import csv
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from worker.db import session_factory

# Every table an import writes, each row with its ticket's number in place of the surrogate ids.
DUMPS = {
    "tickets": "SELECT t.number, t.source, t.category_code, t.urgent_kind, t.content, t.caller_name, "
               "t.caller_phone, t.address, t.territorial_unit_code, t.received_at, t.last_event_at, t.life_class "
               "FROM tickets t",
    "ticket_events": "SELECT t.number, e.kind, e.at, e.unit_code, e.reason, e.note, e.suggested_unit_code, "
                     "e.reply_kind, e.review_passed, e.days, e.consent, e.plan_date, e.satisfaction, e.resolved, "
                     "e.contact_person, e.contact_phone FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id",
    "assignments": "SELECT t.number, a.* FROM assignments a JOIN tickets t ON t.id = a.ticket_id",
    "assignment_clocks": "SELECT t.number, c.* FROM assignment_clocks c JOIN tickets t ON t.id = c.ticket_id",
    "clock_days": "SELECT * FROM clock_days",
    "analysis_queue": "SELECT t.number, q.* FROM analysis_queue q JOIN tickets t ON t.id = q.ticket_id",
    "import_corrections": "SELECT t.number, c.file, c.line, c.target, c.field, c.old_value, c.new_value "
                          "FROM import_corrections c JOIN tickets t ON t.id = c.ticket_id",
    "import_log": "SELECT file, rows_read, rows_stored, rows_unchanged, rows_refused FROM import_log",
}
IDS = {"id", "ticket_id"}


def dump(url: str) -> dict[str, list[tuple]]:
    engine = session_factory(url).kw["bind"]
    out = {}
    with engine.connect() as conn:
        for table, sql in DUMPS.items():
            result = conn.execute(text(sql))
            keep = [i for i, k in enumerate(result.keys()) if k not in IDS]
            out[table] = sorted((tuple(repr(row[i]) for i in keep) for row in result), key=str)
    return out


def write(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def exports(tmp_path):
    """The first export, its corrected re-export and an export with bad rows (what is changed in
    each, to count on)."""
    from worker.calendar import load_calendar
    from worker.demo_data import Generator, write_export

    first = tmp_path / "first.csv"
    write_export(first, Generator(load_calendar(), seed=33, per_day=12).tickets(
        date(2026, 9, 1), date(2026, 10, 20), datetime(2026, 10, 28, 9, 0)))
    with first.open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    col = {h: i for i, h in enumerate(header)}
    numbers = list(dict.fromkeys(r[col["工单编号"]] for r in rows))
    # The re-export: ticket 1's 诉求内容 corrected; ticket 2's 签收 an hour later; ticket 3 gains a
    # 回访; ticket 4's rows dropped from the first export (new in the re-export).
    moved, gained, late = numbers[1], numbers[2], numbers[3]
    again = []
    for r in rows:
        r = list(r)
        if r[col["工单编号"]] == numbers[0]:
            r[col["诉求内容"]] = r[col["诉求内容"]] + "（更正）"
        if r[col["工单编号"]] == moved and r[col["环节"]] == "签收":
            at = datetime.fromisoformat(r[col["环节时间"]]) + timedelta(hours=1)
            r[col["环节时间"]] = at.isoformat(sep=" ")
        again.append(r)
    last = next(r for r in reversed(rows) if r[col["工单编号"]] == gained)
    callback = [""] * len(header)
    for h in ("工单编号", "受理时间", "诉求渠道", "事项编码", "紧急类型", "诉求内容", "来电人", "联系电话", "诉求地址", "所属属地"):
        callback[col[h]] = last[col[h]]
    callback[col["环节"]], callback[col["回访结果"]], callback[col["解决情况"]] = "回访", "满意", "解决"
    callback[col["环节时间"]] = (max(datetime.fromisoformat(r[col["环节时间"]]) for r in rows
                                   if r[col["工单编号"]] == gained) + timedelta(hours=2)).isoformat(sep=" ")
    again.append(callback)
    write(first, header, [r for r in rows if r[col["工单编号"]] != late])
    reexport = tmp_path / "reexport.csv"
    write(reexport, header, again)
    # Bad rows: a row repeated, a 签收 before any 交办 of a new ticket, a new ticket whose phone the
    # database cannot hold, one dispatched on 30 December (its due time in 2027, a year the calendar
    # lacks): their chunk falls back to the batch path, which isolates them.
    bad = tmp_path / "bad.csv"
    fresh = [list(r) for r in rows if r[col["工单编号"]] in numbers[-3:]]
    for r in fresh:
        r[col["工单编号"]] = "9" + r[col["工单编号"]][1:]
    early = [r for r in fresh if r[col["工单编号"]] == "9" + numbers[-2][1:]]
    early[0][col["环节"]], early[0][col["环节时间"]] = "签收", early[0][col["受理时间"]]
    for r in fresh:
        if r[col["工单编号"]] == "9" + numbers[-1][1:]:
            r[col["联系电话"]] = "1" * 40
    december = [list(r) for r in rows if r[col["工单编号"]] == numbers[-4]]
    for i, r in enumerate(december):
        r[col["工单编号"]] = "8" + r[col["工单编号"]][1:]
        r[col["受理时间"]], r[col["环节时间"]] = "2026-12-30 09:00:00", f"2026-12-30 10:{i:02d}:00"
    write(bad, header, [*rows[:5], rows[0], *december, *fresh])
    return first, reexport, bad, {"corrected": {numbers[0], moved}, "moved": sum(
        1 for r in rows if r[col["工单编号"]] == moved and r[col["环节"]] == "签收"), "gained": gained, "late": late,
                                  "phone": "9" + numbers[-1][1:], "december": "8" + numbers[-4][1:], "early": "9" + numbers[-2][1:]}


# Histories made to reach each rule of the replay (worker.assignments.derive_ticket, add_deadlines,
# clock_rows, analysis_due), which the bulk load twins in SQL (worker.bulk_derive): per ticket its
# 诉求渠道, 事项编码, 紧急类型, then its events (环节, 环节时间, 承办单位, other columns).
HISTORIES = {
    # 改派 without a return (the first dispatch superseded); a late 签收; review sent back and replied
    # again; a 重办 by the centre after an unsatisfied callback; two callbacks.
    "700000000000001": ("市12345", "0101", "", [
        ("交办", "09-01 09:00", "D01", {}), ("签收", "09-01 10:00", "D01", {}), ("交办", "09-02 09:00", "D02", {}),
        ("签收", "09-03 12:00", "D02", {}), ("答复", "09-04 10:00", "D02", {"答复类型": "正常答复"}),
        ("审核", "09-04 11:00", "", {"审核结果": "退回"}), ("答复", "09-05 10:00", "D02", {"答复类型": "正常答复"}),
        ("审核", "09-05 11:00", "", {"审核结果": "通过"}), ("回访", "09-06 10:00", "", {"回访结果": "不满意", "解决情况": "未解决"}),
        ("重办", "09-07 09:00", "", {}), ("答复", "09-10 10:00", "D02", {}),
        ("回访", "09-11 10:00", "", {"回访结果": "满意", "解决情况": "解决"}), ("办结", "09-11 11:00", "", {})]),
    # Across the National Day holidays, a channel with a reply due, the category's urgent kind; a
    # reply by the first unit after the 改派 (its own assignment); an extension without consent
    # (not counted), one over the cap; a plan past the 90 days, then a reply with its own plan.
    "700000000000002": ("接诉即办", "0901", "", [
        ("交办", "09-28 16:00", "D01", {}), ("交办", "09-29 09:00", "D02", {}), ("答复", "09-29 10:00", "D01", {}),
        ("延期", "09-29 11:00", "D02", {"延期天数": "5", "来电人同意": "否"}),
        ("延期", "09-30 09:00", "D02", {"延期天数": "15", "来电人同意": "是"}),
        ("列入计划", "09-30 10:00", "D02", {"计划完成日期": "2027-03-01"}),
        ("答复", "09-30 11:00", "D02", {"答复类型": "列入计划", "计划完成日期": "2026-12-01"}),
        ("审核", "10-09 09:00", "", {"审核结果": "通过"}), ("回访", "10-10 10:00", "", {"回访结果": "基本满意"})]),
    # A return by a unit never dispatched falls to the current dispatch: the centre's next events
    # have no assignment until the next 交办.
    "700000000000003": ("市12345", "0701", "", [
        ("交办", "09-07 09:00", "D01", {}),
        ("回退", "09-07 10:00", "D03", {"回退原因": "不属于本单位职责", "建议承办单位": "D04"}),
        ("审核", "09-07 11:00", "", {"审核结果": "通过"}), ("回访", "09-07 12:00", "", {"回访结果": "满意"}),
        ("交办", "09-08 09:00", "D04", {}), ("签收", "09-08 09:30", "D04", {}), ("答复", "09-09 10:00", "D04", {}),
        ("办结", "09-10 10:00", "", {})]),
    # Returned three times (once after the window), twice by the same unit; then accepted.
    "700000000000004": ("市12345", "0301", "", [
        ("交办", "09-14 09:00", "D01", {}), ("回退", "09-14 10:00", "D01", {"回退原因": "不属于本单位职责"}),
        ("交办", "09-14 11:00", "D02", {}), ("回退", "09-16 10:00", "D02", {"回退原因": "非本辖区"}),
        ("交办", "09-16 11:00", "D01", {}), ("签收", "09-16 12:00", "D01", {}),
        ("回退", "09-16 13:00", "D01", {"回退原因": "再次回退"}), ("交办", "09-17 09:00", "D03", {}),
        ("签收", "09-17 09:10", "D03", {}), ("答复", "09-18 10:00", "D03", {}), ("审核", "09-18 11:00", "", {"审核结果": "通过"}),
        ("回访", "09-19 10:00", "", {"回访结果": "不满意", "解决情况": "解决"}), ("办结", "09-19 11:00", "", {})]),
    # Returned once, and no unit held it accepted 24 hours after its first dispatch (即督快响).
    "700000000000005": ("市12345", "0302", "", [
        ("交办", "09-21 09:00", "D01", {}), ("回退", "09-21 10:00", "D01", {"回退原因": "不属于本单位职责"}),
        ("交办", "09-22 12:00", "D02", {}), ("签收", "09-22 13:00", "D02", {})]),
    # Events of one moment (a return and a 改派 at once: the batch path's ids break the tie); a
    # 重办 after its 办结 (open again), a review sent back after it.
    "700000000000006": ("市12345", "0302", "", [
        ("交办", "09-22 09:00", "D01", {}), ("交办", "09-22 09:00", "D02", {}),
        ("回退", "09-22 09:00", "D01", {"回退原因": "不属于本单位职责"}), ("签收", "09-22 10:00", "D02", {}),
        ("答复", "09-23 10:00", "D02", {}), ("办结", "09-23 12:00", "", {}), ("重办", "09-24 09:00", "", {}),
        ("审核", "09-24 11:00", "", {"审核结果": "退回"})]),
    # A law-enforcement sub-code, replied after its due time; a unit's call to the caller.
    "700000000000007": ("国家级", "200101", "", [
        ("交办", "09-25 09:00", "D05", {}), ("签收", "09-25 09:30", "D05", {}),
        ("联系", "09-25 10:00", "D05", {"联系人员": "王某", "联系号码": "0571-12345678"}),
        ("答复", "10-12 10:00", "D05", {}), ("回访", "10-13 10:00", "", {"回访结果": "不满意", "解决情况": "未解决"}),
        ("回访", "10-14 10:00", "", {"回访结果": "满意", "解决情况": "解决"}), ("办结", "10-14 11:00", "", {})]),
    # Still open: an urgent kind named in the export.
    "700000000000008": ("省12345", "0302", "民生紧急", [("交办", "10-19 15:00", "D06", {})]),
}


def histories(path, header):
    """HISTORIES as an export with the platform's headers."""
    rows = []
    for number, (source, category, urgent, events) in HISTORIES.items():
        received = f"2026-{events[0][1]}:00"
        for kind, at, unit, extra in events:
            row = {"工单编号": number, "受理时间": received, "诉求渠道": source, "事项编码": category, "紧急类型": urgent,
                   "诉求内容": "反映情况", "来电人": "张某", "联系电话": "13800000000", "诉求地址": "盛泉路1号",
                   "所属属地": "S01", "环节": kind, "环节时间": f"2026-{at}:00", "承办单位": unit, **extra}
            rows.append([row.get(h, "") for h in header])
    write(path, header, rows)
    return path


@pytest.mark.postgres
def test_the_bulk_load_stores_what_the_batch_path_stores(postgres_db, request, tmp_path, monkeypatch):
    import worker.bulk_load
    import worker.importer
    from worker.calendar import load_calendar
    from worker.db import get_engine
    from worker.imports import import_file
    from worker.rules import load_rules

    copies = request.getfixturevalue("postgres_copies")
    batch_url = str(get_engine().url.render_as_string(hide_password=False))
    bulk_name = copies.take()
    bulk_url = copies.url(bulk_name)
    cal, rules = load_calendar(), load_rules()
    monkeypatch.setattr(worker.importer, "now_local", lambda: datetime(2027, 1, 1))   # 30 December is past
    first, reexport, bad, changed = exports(tmp_path)
    with first.open(encoding="utf-8", newline="") as fh:
        rules_export = histories(tmp_path / "histories.csv", next(csv.reader(fh)))
    # The new tickets of a clean export are derived set-based, not by the batch path it falls back to.
    fallbacks, store = [], worker.bulk_load._store_or_isolate
    monkeypatch.setattr(worker.bulk_load, "_store_or_isolate", lambda *args: (fallbacks.append(args[2]), store(*args)))
    try:
        for round, export in enumerate((first, reexport, first, rules_export, bad)):
            fallbacks.clear()
            # Several chunks; for the bad rows a chunk a ticket: good chunks after a refused one.
            monkeypatch.setattr(worker.bulk_load, "CHUNK_ROWS", 5 if export == bad else 500)
            reports = [import_file(session_factory(url), export, cal, rules, bulk=bulk)
                       for url, bulk in ((batch_url, False), (bulk_url, True))]
            assert reports[0].summary() == reports[1].summary()
            assert sorted(reports[0].errors) == sorted(reports[1].errors)
            assert dump(batch_url) == dump(bulk_url), export.name
            if round in (0, 3):   # every ticket new, no bad row
                assert not fallbacks and not reports[1].errors, (export.name, reports[1].errors)
            if export == reexport:   # what the re-export changes, counted as a user reads it
                assert not reports[1].errors, reports[1].errors
                assert (reports[1].tickets_new, reports[1].tickets_corrected) == (1, 1)
                assert (reports[1].events_corrected, reports[1].events_new) == (changed["moved"], 1 + sum(
                    1 for line in reexport.open(encoding="utf-8") if line.startswith(changed["late"])))
            if export == bad:
                lines = "\n".join(reports[1].errors)
                assert f"ticket {changed['early']}: a 'signed' event" in lines
                assert f"ticket {changed['phone']}: value too long" in lines
                assert f"ticket {changed['december']}: the working-day calendar has no data for 2027" in lines
                assert reports[1].tickets_new == 2   # the other two new tickets refused whole
        tables = dump(bulk_url)
        assert {row[0] for row in tables["import_corrections"]} == {repr(n) for n in changed["corrected"]}
        assert all(len(rows) > 0 for name, rows in tables.items() if name != "analysis_queue")
    finally:
        copies.give_back(bulk_name)


@pytest.mark.postgres
def test_a_file_changed_while_staged_stores_what_was_read_before_and_says_so(postgres_db, tmp_path, monkeypatch):
    """The bulk load stops at a file that changed as the batch path does (tests/test_import_edges.py):
    the rows read before the change are stored, and the message counts them."""
    import worker.importer
    from tests.test_import_edges import _append, counts, run, tickets, write

    path = tmp_path / "export.csv"
    write(path, tickets(30))
    read_rows = worker.importer.read_rows

    def changing(*args, **kwargs):
        for i, row in enumerate(read_rows(*args, **kwargs)):
            if i == 40:   # after the first batch of 20 rows was staged, before the second is
                _append(path)
            yield row

    monkeypatch.setattr(worker.importer, "read_rows", changing)
    monkeypatch.setattr(worker.importer, "BATCH_ROWS", 20)
    res = run("import", str(path))
    assert res.exit_code == 1
    assert f"error: {path}: the file changed while it was being read (" in res.output
    assert "; the rows before line 22 were stored as read (20 stored, 0 unchanged, 0 refused), none after. " \
           "Import it again once it is complete" in res.output
    assert counts() == (10, 20)
