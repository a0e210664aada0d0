"""Imports that never lose a row silently (issue 32): a workbook's <dimension> not trusted, a file still
being written left in the inbox, a file changed while read stopped and said so, a control character in
a header refused by name, a ticket number Excel rounded refused by line, an empty file refused, and a
summary whose counts add up after a bad ticket was isolated."""
from __future__ import annotations

import json
import os
import re
import zipfile
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from tests.test_bad_import import HEADER, counts, good, write
from worker.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def tickets(n, start=1):
    """N tickets of two rows each (交办, 签收): 2N rows."""
    rows = []
    for i in range(start, start + n):
        number = f"2026110900{i:05d}"
        rows += [good(number), good(number, "签收", "2026-11-09 11:00")]
    return rows


def workbook(path, rows, header=HEADER):
    from openpyxl import Workbook

    wb = Workbook()
    for r in [header] + rows:
        wb.active.append(r)
    wb.save(path)


def rewrite_sheet(path, change):
    """The workbook with its first sheet's XML changed by CHANGE (bytes -> bytes)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, change(data) if item.filename == "xl/worksheets/sheet1.xml" else data)
    tmp.replace(path)


def test_a_workbook_whose_dimension_says_a1_imports_every_row(db, tmp_path):
    path = tmp_path / "export.xlsx"
    workbook(path, tickets(3))
    rewrite_sheet(path, lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', xml))
    assert b'<dimension ref="A1"' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    res = run("import", str(path))
    assert res.exit_code == 0, res.output
    assert "6 rows read: 6 stored, 0 unchanged, 0 refused; tickets 3 new" in res.output
    assert counts() == (3, 6)


def test_a_workbook_row_longer_than_its_header_is_refused_by_line(sqlite_db, tmp_path):
    path = tmp_path / "export.xlsx"
    rows = tickets(2)
    rows[3] = rows[3] + ["多出的一格"]
    workbook(path, rows)
    res = run("import", str(path))
    assert res.exit_code == 1
    assert f"{path}:5: a value beyond the header's {len(HEADER)} columns ('多出的一格')" in res.output
    assert counts() == (2, 3)


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\u200b"])
def test_a_control_character_in_a_header_is_refused_by_name(sqlite_db, tmp_path, char):
    path = tmp_path / "export.csv"
    header = list(HEADER)
    header[5] = f"诉求{char}内容"
    write(path, tickets(2), header)
    res = run("import", str(path))
    assert res.exit_code == 1, res.output
    assert (f"{path}:1: the header of column 6, {header[5]!r}, contains the control character "
            f"U+{ord(char):04X}; the column would not be read") in res.output
    assert counts() == (0, 0)        # nothing stored with its 诉求内容 empty


def test_a_control_character_in_a_jsonl_key_is_refused_by_line(sqlite_db, tmp_path):
    path = tmp_path / "export.jsonl"
    rows = [dict(zip(HEADER, r)) for r in tickets(2)]
    rows[1]["诉求\x00内容"] = rows[1].pop("诉求内容")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    res = run("import", str(path))
    assert res.exit_code == 1
    assert f"{path}:2: the key '诉求\\x00内容' contains the control character U+0000" in res.output


def test_a_ticket_number_excel_rounded_is_refused_by_line(db, tmp_path):
    """Two tickets whose numbers Excel saved as 9.80000E+14 would be stored as one; each is refused
    with its line, as are a number cut short and one with letters (the mapping's number_pattern)."""
    path = tmp_path / "export.csv"
    write(path, tickets(1) + [good("9.80000E+14"), good("9.80000E+14", 诉求内容="另一张工单"),
                              good("20261109000012"), good("2026110900001X")])
    res = run("import", str(path))
    assert res.exit_code == 1
    for line in (4, 5):
        assert (f"{path}:{line}: 工单编号: '9.80000E+14' is not a ticket number: a spreadsheet stored it as a "
                "number and rounded its digits; export the column as text") in res.output
    assert (f"{path}:6: 工单编号: '20261109000012' is not a ticket number (the mapping's number_pattern is "
            "[0-9]{15})") in res.output
    assert f"{path}:7: 工单编号: '2026110900001X' is not a ticket number" in res.output
    assert "6 rows read: 2 stored, 0 unchanged, 4 refused" in res.output
    assert counts() == (1, 2)


def test_a_rounded_number_cell_in_a_workbook_is_refused(sqlite_db, tmp_path):
    path = tmp_path / "export.xlsx"
    rows = tickets(1) + [good(2.02611090000001e17), good(202611090000777)]   # 18 digits rounded; 15 exact
    workbook(path, rows)
    res = run("import", str(path))
    assert res.exit_code == 1
    assert f"{path}:4: 工单编号: '2.02611090000001e+17' is not a ticket number: a spreadsheet stored it" in res.output
    assert counts() == (2, 3)


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", "", "the file is empty; nothing to import"),
    ("blank.csv", "\n\n  \n\r\n", "the file holds only blank lines; nothing to import"),
    ("late-header.csv", "\n" + ",".join(HEADER) + "\n", ":1: the first line is blank; expected the header row"),
    ("header-only.csv", ",".join(HEADER) + "\n\n", "no data rows (a header at most); nothing to import"),
    ("blank.jsonl", "\n \n\n", "no data rows (a header at most); nothing to import"),
])
def test_an_empty_file_is_refused_in_words(sqlite_db, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    res = run("import", str(path))
    assert res.exit_code == 1 and f"error: {path}" in res.output and message in res.output, res.output
    assert "Traceback" not in res.output


def test_an_empty_workbook_is_refused(sqlite_db, tmp_path):
    path = tmp_path / "empty.xlsx"
    workbook(path, [], header=[None])
    res = run("import", str(path))
    assert res.exit_code == 1 and "the first sheet has no header row; nothing to import" in res.output


def _with_a_bad_ticket(path, n):
    """N good tickets (2 rows each) and, in their middle, one the calendar cannot date (its due time
    falls in 2027, which calendar.yaml lacks): storing it fails, its batch is isolated."""
    rows = tickets(n // 2)
    rows += [good("202612300000001", 受理时间="2026-12-30 09:00", at="2026-12-30 10:00")]
    rows += tickets(n - n // 2, start=n // 2 + 1)
    write(path, rows)


def test_the_summary_adds_up_after_a_bad_ticket_is_isolated_and_a_reimport_doubles_nothing(db, tmp_path,
                                                                                            monkeypatch):
    import worker.importer
    monkeypatch.setattr(worker.importer, "now_local", lambda: __import__("datetime").datetime(2027, 1, 1))
    monkeypatch.setattr(worker.importer, "BATCH_ROWS", 40)
    path = tmp_path / "export.csv"
    _with_a_bad_ticket(path, 60)
    res = run("import", str(path))
    assert res.exit_code == 1
    assert "the working-day calendar has no data for 2027" in res.output
    assert f"{path}: 121 rows read: 120 stored, 0 unchanged, 1 refused; tickets 60 new, 0 corrected; " \
           "events 120 new, 0 corrected" in res.output
    assert counts() == (60, 120)
    res = run("import", str(path))
    assert f"{path}: 121 rows read: 0 stored, 120 unchanged, 1 refused; tickets 0 new, 0 corrected; " \
           "events 0 new, 0 corrected" in res.output
    assert counts() == (60, 120)      # the retried halves matched their events from the same place


@contextmanager
def changing_while_read(path, change):
    """The file changes on disk right after the importer stored its first batch (a writer still at
    work, or a replacement), as a slow upload would."""
    import worker.importer

    store, calls = worker.importer._store, []

    def store_then_change(*args, **kwargs):
        store(*args, **kwargs)
        if not calls:
            change(path)
        calls.append(1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(worker.importer, "_store", store_then_change)
        mp.setattr(worker.importer, "BATCH_ROWS", 20)
        yield


def _append(path):
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(",".join(good("202611090009999")) + "\r\n")


def _replace(path):
    new = path.with_name("new.csv")
    write(new, tickets(30, start=500))
    os.replace(new, path)


@pytest.mark.parametrize("change,what", [(_append, "bytes when opened"), (_replace, "replaced by another file")])
def test_a_file_changed_while_read_is_stopped_and_says_what_was_stored(sqlite_db, tmp_path, change, what):
    path = tmp_path / "export.csv"
    write(path, tickets(30))
    with changing_while_read(path, change):
        res = run("import", str(path))
    assert res.exit_code == 1
    assert f"error: {path}: the file changed while it was being read (" in res.output and what in res.output
    assert "; the rows before line 22 were stored as read (20 stored, 0 unchanged, 0 refused), none after. " \
           "Import it again once it is complete" in res.output
    assert counts() == (10, 20)


def _inbox():
    from worker.config import load_settings

    inbox = load_settings().inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    return inbox


def _age(path, seconds):
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def test_the_inbox_leaves_a_file_still_being_written_and_takes_it_once_quiet(sqlite_db, tmp_path):
    inbox = _inbox()
    rows = tickets(40)
    write(inbox / "export.csv", rows[:50])     # half written: the platform is still at work
    res = run("run", "process_inbox", "--inline", "--at", "2026-11-10 10:00")
    assert res.exit_code == 0, res.output
    assert "left in the inbox: export.csv: changed 0 s ago, taken once unchanged for 60 s (inbox_quiet_seconds)" in res.output
    assert (inbox / "export.csv").exists() and counts() == (0, 0)
    write(inbox / "export.csv", rows)           # complete, and quiet for a minute
    _age(inbox / "export.csv", 61)
    res = run("run", "process_inbox", "--inline", "--at", "2026-11-10 10:10")
    assert res.exit_code == 0, res.output
    assert counts() == (40, 80)
    assert "80 rows read: 80 stored" in (inbox / "done" / "export.csv.report.txt").read_text(encoding="utf-8")


def test_the_inbox_takes_a_marked_file_at_once_and_moves_its_mark(sqlite_db, tmp_path):
    inbox = _inbox()
    write(inbox / "export.csv", tickets(5))
    (inbox / "export.csv.complete").touch()
    (inbox / ".export2.csv.part").write_text("an upload's temporary", encoding="utf-8")
    res = run("run", "process_inbox", "--inline", "--at", "2026-11-10 10:00")
    assert res.exit_code == 0, res.output
    assert counts() == (5, 10)
    assert (inbox / "done" / "export.csv").exists() and (inbox / "done" / "export.csv.complete").exists()
    assert not (inbox / "export.csv.complete").exists()
    assert (inbox / ".export2.csv.part").exists() and not list((inbox / "failed").iterdir())


def test_the_inbox_keeps_a_file_that_changed_while_read_for_the_next_pass(sqlite_db, tmp_path):
    inbox = _inbox()
    path = inbox / "export.csv"
    write(path, tickets(30))
    _age(path, 120)
    with changing_while_read(path, _append):
        res = run("run", "process_inbox", "--inline", "--at", "2026-11-10 10:00")
    assert res.exit_code == 0, res.output
    assert "the file changed while it was being read" in res.output
    assert path.exists() and not (inbox / "done" / "export.csv").exists() and counts() == (10, 20)
    _age(path, 120)
    res = run("run", "process_inbox", "--inline", "--at", "2026-11-10 10:10")
    assert (inbox / "done" / "export.csv").exists() and counts() == (31, 61)
