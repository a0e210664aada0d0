"""Bad imports (issue 18): every defect refused by line with its reason, the good rows stored, a
whole file never half-done, memory bounded, concurrent imports serialised."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Ticket, TicketEvent

HEADER = ["工单编号", "受理时间", "诉求渠道", "事项编码", "紧急类型", "诉求内容", "来电人", "联系电话", "诉求地址",
          "所属属地", "环节", "环节时间", "承办单位", "回退原因", "建议承办单位", "答复类型", "审核结果", "延期天数",
          "来电人同意", "计划完成日期", "回访结果", "解决情况", "联系人员", "联系号码"]
COL = {h: i for i, h in enumerate(HEADER)}


def good(number="202611090000001", kind="交办", at="2026-11-09 10:00", **fields):
    row = [number, "2026-11-09 09:00", "市12345", "0101", "", "反映路灯不亮", "张三", "13812345678", "观海路1号", "S01",
           kind, at, "D01"] + [""] * 11
    for k, v in fields.items():
        row[COL[k]] = v
    return row


def write(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)


def counts():
    with session_scope() as s:
        return (s.scalar(select(func.count()).select_from(Ticket)), s.scalar(select(func.count()).select_from(TicketEvent)))


# (defect, the row, what the message says): each row sits after a good ticket's rows in one file.
ROW_DEFECTS = [
    ("unknown unit", good("202611090090001", 承办单位="X99"), "承办单位: unknown unit 'X99'"),
    ("unknown suggested unit", good("202611090090002", "回退", "2026-11-09 11:00", 建议承办单位="Z9"), "建议承办单位: unknown unit"),
    ("bad time", good("202611090090003", at="2026-13-45 25:00"), "环节时间: bad timestamp"),
    ("no time", good("202611090090004", at=""), "环节时间 is missing"),
    ("no number", good(""), "工单编号 (工单编号) is missing"),
    ("number with a line break", good("X5\nY"), "is not a ticket number"),
    ("number too long", good("X" * 80), "is not a ticket number"),
    ("unknown category", good("202611090090006", 事项编码="9999"), "事项编码: unknown category '9999'"),
    ("unknown channel", good("202611090090007", 诉求渠道="微博"), "诉求渠道: unknown value '微博'"),
    ("unknown urgent kind", good("202611090090008", 紧急类型="特急"), "紧急类型: unknown value '特急'"),
    ("unknown event", good("202611090090009", kind="转办"), "环节: unknown value '转办'"),
    ("future time", good("202611090090010", at="2099-01-01 10:00"), "is in the future"),
    ("future received", good("202611090090011", 受理时间="2099-01-01 09:00", at="2099-01-01 10:00"), "is in the future"),
    ("content too long", good("202611090090012", 诉求内容="长" * 20001), "20001 characters"),
    ("dispatch without unit", good("202611090090013", 承办单位=""), "a 'dispatched' event needs the unit"),
    ("reply without unit", good("202611090090014", "答复", "2026-11-10 10:00", 承办单位=""), "a 'replied' event needs the unit"),
    ("bad evaluation", good("202611090090015", "回访", "2026-11-10 10:00", 回访结果="一般"), "回访结果: unknown value '一般'"),
    ("bad reply kind", good("202611090090016", "答复", "2026-11-10 10:00", 答复类型="其他"), "答复类型: unknown value '其他'"),
    ("bad yes/no", good("202611090090017", "延期", "2026-11-10 10:00", 来电人同意="也许"), "来电人同意: unknown value '也许'"),
    ("bad review", good("202611090090018", "审核", "2026-11-10 10:00", 审核结果="待定"), "审核结果: unknown value '待定'"),
    ("days not a number", good("202611090090019", "延期", "2026-11-10 10:00", 延期天数="五"), "延期天数: '五' is not a number"),
    ("days 3e9", good("202611090090020", "延期", "2026-11-10 10:00", 延期天数="3e9"), "延期天数: 3000000000 days of extension"),
    ("days 1e400", good("202611090090021", "延期", "2026-11-10 10:00", 延期天数="1e400"), "延期天数: '1e400' is not a number"),
    ("negative days", good("202611090090022", "延期", "2026-11-10 10:00", 延期天数="-40"), "延期天数: -40 days of extension"),
    ("bad plan date", good("202611090090023", "列入计划", "2026-11-10 10:00", 计划完成日期="明年"), "计划完成日期: bad date"),
    ("event before received", good("202611090090024", at="2026-11-09 08:00"), "is before the ticket was received"),
    ("NUL byte", good("202611090090025", 诉求内容="反映\x00问题"), "诉求内容: contains a NUL character"),
    ("short row", good("202611090090026")[:5], "5 columns, the header has 24"),
    ("long row", good("202611090090027") + ["x"], "25 columns, the header has 24"),
    ("contact without unit", good("202611090090029", "联系", "2026-11-10 10:00", 承办单位="", 联系人员="李明"),
     "a 'contacted' event needs the unit"),
    ("contact number too long", good("202611090090030", "联系", "2026-11-10 10:00", 联系号码="0" * 41),
     "联系号码: 41 characters, more than 40"),
    ("bad resolved", good("202611090090028", "回访", "2026-11-10 10:00", 解决情况="部分"), "解决情况: unknown value '部分'"),
]


@pytest.mark.parametrize("defect,row,message", ROW_DEFECTS, ids=[d[0] for d in ROW_DEFECTS])
def test_a_bad_row_is_refused_by_line_and_the_good_rows_are_stored(sqlite_db, tmp_path, defect, row, message, figures):
    path = tmp_path / "export.csv"
    write(path, [good(), good(kind="签收", at="2026-11-09 11:00"), row])
    figures("bad inputs tried")
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1, res.output                 # refused (a usage error would be 2)
    assert isinstance(res.exception, SystemExit), res.exception   # by the command, not by a crash
    assert "Traceback" not in res.output
    assert f"{path}:4: " in res.output and message in res.output, res.output
    assert counts() == (1, 2)                       # the good ticket whole, nothing of the bad row
    figures("bad inputs refused cleanly")


def test_events_before_the_dispatch_are_refused(sqlite_db, tmp_path, figures):
    path = tmp_path / "export.csv"
    write(path, [good(), good("202611090008001", "签收", "2026-11-09 09:30"), good("202611090008001", "交办", "2026-11-09 10:00"),
                 good("202611090008002", "答复", "2026-11-09 11:00")])
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1
    assert f"{path}:3: ticket 202611090008001: a 'signed' event at 2026-11-09 09:30:00 comes before the ticket was dispatched" \
           in res.output
    assert f"{path}:5: ticket 202611090008002: a 'replied' event" in res.output and "(no 交办 event)" in res.output
    figures("bad inputs tried", 2)
    figures("bad inputs refused cleanly", 2)


def test_a_plan_date_past_ninety_days_is_stored_with_a_warning(sqlite_db, tmp_path):
    path = tmp_path / "export.csv"
    write(path, [good(), good(kind="答复", at="2026-11-10 10:00", 答复类型="列入计划", 计划完成日期="2099-01-01")])
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 0 and f"warning: {path}:3: 计划完成日期: 2099-01-01 is more than 90 days" in res.output


FILE_DEFECTS = [
    ("duplicated header", lambda p: write(p, [good()], HEADER[:-1] + ["工单编号"]), "appears twice in the header"),
    ("no header", lambda p: p.write_text("\n".join(",".join(good(f"20261109000500{i}")) for i in range(3)), encoding="utf-8"),
     "missing column(s)"),
    ("JSONL list", lambda p: p.write_text(json.dumps([dict(zip(HEADER, good()))]) + "\n", encoding="utf-8"),
     "not a JSON object but a list"),
    ("JSONL Infinity", lambda p: p.write_text(json.dumps(dict(zip(HEADER, good())))[:-1] + ', "x": Infinity}\n',
                                              encoding="utf-8"), "Infinity is not a value"),
    ("JSONL object as number", lambda p: p.write_text(json.dumps(dict(zip(HEADER, good()), 工单编号={"a": 1})) + "\n",
                                                      encoding="utf-8"), "is not a single value"),
]


@pytest.mark.parametrize("defect,make,message", FILE_DEFECTS, ids=[d[0] for d in FILE_DEFECTS])
def test_a_bad_file_is_refused_clearly(sqlite_db, tmp_path, defect, make, message, figures):
    path = tmp_path / ("export.jsonl" if "JSONL" in defect else "export.csv")
    make(path)
    figures("bad inputs tried")
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1 and message in res.output and str(path) in res.output, res.output
    assert "Traceback" not in res.output and counts() == (0, 0)
    figures("bad inputs refused cleanly")


def test_damaged_sheet_xml_and_a_zip_bomb_are_refused(sqlite_db, tmp_path, figures):
    from openpyxl import Workbook

    wb = Workbook()
    for r in [HEADER, good()]:
        wb.active.append(r)
    wb.save(tmp_path / "ok.xlsx")
    with zipfile.ZipFile(tmp_path / "ok.xlsx") as src, zipfile.ZipFile(tmp_path / "damaged.xlsx", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]                  # sheet XML cut in the middle of a tag
            dst.writestr(item, data)
    with zipfile.ZipFile(tmp_path / "ok.xlsx") as src, \
            zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", b"<row r=\"3\"><c t=\"inlineStr\"><is><t>" + b"A" * (210 * 2**20)
                                    + b"</t></is></c></row></sheetData>")
            dst.writestr(item.filename, data)
    for name, message in (("damaged.xlsx", "the workbook is truncated or damaged"),
                          ("bomb.xlsx", "the workbook unpacks to 210 MB")):
        figures("bad inputs tried")
        res = CliRunner().invoke(main, ["import", str(tmp_path / name)])
        assert res.exit_code == 1 and message in res.output and name in res.output, res.output
        assert "Traceback" not in res.output
        figures("bad inputs refused cleanly")


def test_a_line_too_long_is_refused_unread_with_memory_bounded(sqlite_db, tmp_path, figures):
    path = tmp_path / "long.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:   # written in pieces: this process stays small
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerow(good())
        head = good("202611090006001")
        fh.write(",".join(head[:5]) + ",")
        fh.writelines("长" * 2**20 for _ in range(100))                          # one 300 MB line
        fh.write("," + ",".join(head[6:]) + "\r\n")
        w.writerow(good(kind="签收", at="2026-11-09 11:00"))
    # VmHWM: this process's own peak (ru_maxrss would include the pytest process it was forked from).
    script = ("import re, sys; from worker.cli import main; sys.argv = ['hotline', 'import', sys.argv[1]];\n"
              "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
              "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
              "print('PEAK', int(hwm) // 1024); sys.exit(code)")
    res = subprocess.run([sys.executable, "-c", script, str(path)], check=False, capture_output=True, text=True,
                         cwd=PROJECT_ROOT,
                         timeout=300)
    peak = int(res.stdout.split("PEAK")[-1])
    assert res.returncode == 1 and f"{path}:3: the line is longer than 16 MB" in res.stderr, res.stderr[-500:]
    assert peak < 300, f"peak {peak} MB"
    assert counts() == (1, 2)
    figures("bad inputs tried")
    figures("bad inputs refused cleanly")


def _year_file(path, n):
    rows = []
    for i in range(n):
        rows.append(good(f"202611{i:09d}", at="2026-11-09 10:00"))
    # A ticket dispatched on 30 December 2026: its due time lies in 2027, which the calendar lacks.
    rows.append(good("202612300000001", 受理时间="2026-12-30 09:00", at="2026-12-30 10:00"))
    rows += [good(f"202612{i:09d}") for i in range(5)]
    write(path, rows)


def test_a_ticket_the_calendar_cannot_date_is_refused_alone(db, tmp_path, monkeypatch, figures):
    import worker.importer
    monkeypatch.setattr(worker.importer, "now_local", lambda: __import__("datetime").datetime(2027, 1, 1))
    path = tmp_path / "year.csv"
    _year_file(path, 2100)
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{path}:2102: ticket 202612300000001: the working-day calendar has no data for 2027" in res.output
    assert counts() == (2105, 2105)                  # every other ticket stored: no half-import, no silent cut
    figures("bad inputs tried")
    figures("bad inputs refused cleanly")
    figures("imports half-done", 0)


@pytest.mark.postgres
def test_nul_and_huge_numbers_on_postgres_are_row_errors(postgres_db, tmp_path):
    path = tmp_path / "export.csv"
    write(path, [good(), good("202611090007001", 诉求内容="a\x00b"), good("202611090007002", "延期", "2026-11-10 10:00", 延期天数="3e9")])
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{path}:3: 诉求内容: contains a NUL character" in res.output
    assert f"{path}:4: 延期天数: 3000000000 days" in res.output
    assert counts() == (1, 1)


def test_three_simultaneous_imports_of_one_file_serialise(db, tmp_path, figures):
    import os
    path = tmp_path / "same.csv"
    write(path, [good(f"2026110900{i:05d}") for i in range(300)] + [good(f"2026110900{i:05d}", "签收", "2026-11-09 11:00") for i in range(300)])
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-m", "worker.cli", "import", str(path)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert not any("Traceback" in e or "IntegrityError" in e for _, e in outs)
    assert counts() == (300, 600)
    stored = sorted(int(o.split(" stored,")[0].rsplit(" ", 1)[-1]) for o, _ in outs)
    assert stored == [0, 0, 600]                     # one stored everything, the others found it stored
    figures("faults injected")
    figures("faults survived")


def test_policy_files_are_checked_with_file_line_and_suggestion(env, tmp_path, monkeypatch, figures):
    """config/metrics.yaml mistakes: named by file and line before any job reads them; a running
    process keeps the last valid version."""
    import shutil
    import time

    from worker.config import policy

    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    policy.cache_clear()
    assert policy.metrics().weights.resolution_rate == 0.45
    metrics = folder / "metrics.yaml"
    text = metrics.read_text(encoding="utf-8")
    broken = (text.replace("resolution_rate: 0.90", 'resolution_rate: "90%"', 1)
              .replace("  resolution_rate: 0.45", "  resolutoin_rate: 0.95", 1)
              .replace("mode: count", "mode: cnt", 1).replace("satisfaction_rate: 0.45", "satisfaction_rate: -0.45", 1))
    metrics.write_text(broken, encoding="utf-8")
    lines = broken.splitlines()
    line_of = lambda needle: next(i for i, ln in enumerate(lines, 1) if needle in ln)
    res = CliRunner().invoke(main, ["doctor"])
    out = res.output
    assert res.exit_code == 1 and "[FAIL] policy metrics.yaml" in out
    assert f"{metrics}:{line_of('90%')}: resolution_rate: expected a number such as 0.90, not '90%'" in out
    assert f"{metrics}:{line_of('mode: cnt')}: mode must be one of count, percent, not 'cnt' (did you mean 'count'?)" \
        in out
    assert f"{metrics}:{line_of('resolutoin_rate')}: unknown key 'resolutoin_rate' (did you mean " \
           f"'resolution_rate'?)" in out
    assert f"{metrics}:{line_of('-0.45')}: satisfaction_rate: -0.45 is outside the allowed range" in out
    # A weight sum that is not 1 is named too, on its own.
    metrics.write_text(text.replace("  response_rate: 0.10", "  response_rate: 0.60", 1), encoding="utf-8")
    out = CliRunner().invoke(main, ["doctor"]).output
    assert f"{metrics}:{line_of('weights:')}: weights: the weights add up to 1.5; they must add up to 1" in out
    metrics.write_text(broken, encoding="utf-8")
    os_time = time.time() + 5
    __import__("os").utime(metrics, (os_time, os_time))
    assert policy.metrics().weights.resolution_rate == 0.45     # the last valid version stays in force
    figures("bad inputs tried", 4)
    figures("bad inputs refused cleanly", 4)


def test_calendar_and_directory_edits_are_checked_by_the_same_schema(sqlite_db, tmp_path, monkeypatch, figures):
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text("years:\n  2027:\n    holidays: 2027-01-01..2027-01-03\n    workday: [2027-01-04]\n",
                        encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CALENDAR", str(calendar))
    res = CliRunner().invoke(main, ["calendar", "check"])
    assert res.exit_code == 2
    assert f"{calendar}:3: holidays must be a list such as [2027-01-01..2027-01-03], not the string" in res.output
    assert f"{calendar}:4: unknown key 'workday' (did you mean 'workdays'?)" in res.output
    directory = tmp_path / "district.yaml"
    directory.write_text("units:\n  - code: X1\n    name: 新单位\n    kind: depratment\npeople:\n  - name: 王五\n"
                         "    role: unit_head\n    unit: X1\n    emial: a@example.gov.cn\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["directory", "load", str(directory)])
    assert res.exit_code == 1 and "nothing was changed" in res.output
    assert f"{directory}:4: kind must be one of" in res.output and "not 'depratment' (did you mean 'department'?)" \
        in res.output
    assert f"{directory}:9: unknown key 'emial' (did you mean 'email'?)" in res.output
    figures("bad inputs tried", 4)
    figures("bad inputs refused cleanly", 4)
