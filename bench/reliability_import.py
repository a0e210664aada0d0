"""The import's faults (issue 32), each run through `hotline import` or the inbox in its own process,
counted from what was observed: the rows of the file the platform meant against the rows in the
database and the refusals the import reported by line.

    .venv/bin/python bench/reliability_import.py [--tickets 6000] [--tree DIR] [--admin postgresql://…/postgres]

Each fault gets a fresh var folder and database (SQLite, or with ``--admin`` a PostgreSQL database of
its own).  ``--tree DIR`` runs another checkout's `hotline` (e.g. an export of an older commit: ``git
archive COMMIT | tar -x -C DIR``) with this checkout's virtualenv, to compare.  Per fault it prints:
- rows: the rows of the complete export (what the platform meant to deliver);
- stored: those rows found in the database as meant (ticket number, event, time, 诉求内容);
- told: those rows refused with the reason in the import's words (a refused line, or the whole file
  refused with its name): the operator knows;
- lost: rows neither stored nor told — lost silently;
- doubled: events stored more than once (after the fault and, where it applies, a second import) and
  rows the summary counted twice;
- stuck: files left in the inbox that the next pass, after the quiet period, still does not take;
- exit: the exit status of the first command.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["工单编号", "受理时间", "诉求渠道", "事项编码", "紧急类型", "诉求内容", "来电人", "联系电话", "诉求地址",
          "所属属地", "环节", "环节时间", "承办单位", "回退原因", "建议承办单位", "答复类型", "审核结果", "延期天数",
          "来电人同意", "计划完成日期", "回访结果", "解决情况"]


def rows_of(n: int, start: int = 1, day: str = "2026-11-09") -> list[list[str]]:
    """N tickets of two rows (交办, 签收), each with its own 诉求内容."""
    out = []
    for i in range(start, start + n):
        number = f"{day.replace('-', '')}{i:07d}"
        base = [number, f"{day} 09:00", "市12345", "0101", "", f"反映路灯不亮（{i}）", "张三", "13812345678",
                "观海路1号", "S01"]
        out += [base + ["交办", f"{day} 10:00", "D01"] + [""] * 9, base + ["签收", f"{day} 11:00", "D01"] + [""] * 9]
    return out


def write_csv(path: Path, rows: list[list], header: list[str] = HEADER) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)


class Place:
    """A var folder and a database of their own, and the `hotline` of the tree under test."""

    def __init__(self, tree: Path, admin: str | None):
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-reliability-import-"))
        self.tree, self.admin, self.pg = tree, admin, None
        if admin:
            import psycopg
            self.pg = f"hotline_bench_rel_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg}"')
            self.url = admin.rsplit("/", 1)[0] + "/" + self.pg
        else:
            self.url = f"sqlite:///{self.dir / 'var' / 'hotline.db'}"
        (self.dir / "var").mkdir()
        self.env = dict(os.environ, HOTLINE_VAR=str(self.dir / "var"), DATABASE_URL=self.url,
                        PYTHONPATH=str(tree), HOTLINE_FONTS=str(ROOT / "var" / "fonts"))
        for name in ("HOTLINE_CONFIG", "REDIS_URL", "SMTP_HOST"):
            self.env.pop(name, None)
        self.hotline("directory", "load", str(tree / "db" / "seed" / "district.yaml"))

    @property
    def inbox(self) -> Path:
        return self.dir / "var" / "inbox"

    def hotline(self, *args: str, background: bool = False):
        cmd = [sys.executable, "-m", "worker.cli", *args]
        if background:
            return subprocess.Popen(cmd, cwd=self.tree, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
        return subprocess.run(cmd, check=False, cwd=self.tree, env=self.env, capture_output=True, text=True,
                              timeout=900)

    def stored(self) -> tuple[set[tuple], int]:
        """(each stored event as (number, kind, time, 诉求内容), how many events are stored)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT t.number, e.kind, e.at, t.content FROM ticket_events e "
                                     "JOIN tickets t ON t.id = e.ticket_id")).all()
        engine.dispose()
        return {(n, k, str(at)[:16], c) for n, k, at, c in rows}, len(rows)

    def events(self) -> int:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.scalar(text("SELECT count(*) FROM ticket_events"))
        finally:
            engine.dispose()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg:
            import psycopg
            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg}" WITH (FORCE)')


KINDS = {"交办": "dispatched", "签收": "signed"}


def key(row: list) -> tuple:
    return (row[0], KINDS[row[10]], row[11][:16], row[5])


def observe(place: Place, meant: list[list], outputs: list[str], path: Path | None = None,
            lines: dict[int, list] | None = None) -> dict:
    """The counts for the rows MEANT, from the database and what the commands printed (OUTPUTS);
    LINES maps a line of the file as delivered to the row it meant (default: line n+2 is row n)."""
    stored, events = place.stored()
    lines = lines if lines is not None else {i + 2: row for i, row in enumerate(meant)}
    told: set[tuple] = set()
    for out in outputs:
        for line in re.findall(rf"{re.escape(str(path))}:(\d+): ", out) if path else ():
            if int(line) in lines:
                told.add(key(lines[int(line)]))
        if path and re.search(rf"error: {re.escape(str(path))}(:1)?: ", out):
            told |= {key(r) for r in meant}   # the whole file refused, by its name
    keys = [key(r) for r in meant]
    found = sum(k in stored for k in keys)
    return {"rows": len(keys), "stored": found, "told": sum(k not in stored and k in told for k in keys),
            "lost": sum(k not in stored and k not in told for k in keys), "doubled": max(0, events - len(stored))}


def summary_doubled(out: str) -> int:
    """Rows a summary counts more than once: stored + unchanged + refused − read."""
    m = re.search(r"(\d+) rows read: (\d+) stored, (\d+) unchanged, (\d+) refused", out)
    return max(0, int(m[2]) + int(m[3]) + int(m[4]) - int(m[1])) if m else 0


# -- the faults ------------------------------------------------------------------------------------
def xlsx_dimension(place: Place, n: int) -> dict:
    """A workbook whose <dimension> says A1 (some exporters write it)."""
    from openpyxl import Workbook

    meant, path = rows_of(n), place.dir / "export.xlsx"
    wb = Workbook()
    for r in [HEADER] + meant:
        wb.active.append(r)
    wb.save(path)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', data)
            dst.writestr(item, data)
    tmp.replace(path)
    res = place.hotline("import", str(path))
    return observe(place, meant, [res.stdout + res.stderr], path) | {"exit": res.returncode}


def nul_in_header(place: Place, n: int) -> dict:
    """A NUL inside the header 诉求内容: the column would be read as missing."""
    meant, path = rows_of(n), place.dir / "export.csv"
    header = [h if h != "诉求内容" else "诉求\x00内容" for h in HEADER]
    write_csv(path, meant, header)
    res = place.hotline("import", str(path))
    return observe(place, meant, [res.stdout + res.stderr], path) | {"exit": res.returncode}


def excel_rounded_numbers(place: Place, n: int) -> dict:
    """Two tickets whose 工单编号 Excel saved as 9.80000E+14, among good ones."""
    meant = rows_of(n)
    delivered = [list(r) for r in meant]
    for r in delivered[:4]:          # the first two tickets: both numbers become 9.80000E+14
        r[0] = "9.80000E+14"
    path = place.dir / "export.csv"
    write_csv(path, delivered)
    res = place.hotline("import", str(path))
    return observe(place, meant, [res.stdout + res.stderr], path) | {"exit": res.returncode}


def blank_file(place: Place, n: int) -> dict:
    """A file of blank lines (an export that failed upstream)."""
    path = place.dir / "export.csv"
    path.write_text("\n\n  \n\r\n", encoding="utf-8")
    res = place.hotline("import", str(path))
    silent = res.returncode == 0
    return {"rows": 0, "stored": 0, "told": 0, "lost": 0, "doubled": 0, "exit": res.returncode,
            "note": "exit 0: nobody is told the export was empty" if silent else res.stderr.strip()[-90:]}


def isolated_bad_ticket(place: Place, n: int) -> dict:
    """A ticket the calendar cannot date (received 2003) among more than a batch of good ones;
    imported twice."""
    meant = rows_of(n)
    bad = list(meant[0])
    bad[0], bad[1], bad[11] = "200306020000001", "2003-06-02 09:00", "2003-06-02 10:00"
    delivered = meant[:n] + [bad, bad[:10] + ["签收", "2003-06-02 11:00"] + bad[12:]] + meant[n:]
    path = place.dir / "export.csv"
    write_csv(path, delivered)
    lines = {i + 2: row for i, row in enumerate(delivered)}
    first = place.hotline("import", str(path))
    _, events_first = place.stored()
    second = place.hotline("import", str(path))
    _, events_second = place.stored()
    counts = observe(place, meant, [first.stdout + first.stderr], path, lines)
    counts["doubled"] += (events_second - events_first) + summary_doubled(first.stdout) + \
        summary_doubled(second.stdout)
    return counts | {"exit": first.returncode}


def inbox_half_written(place: Place, n: int) -> dict:
    """The platform still writing the file when the inbox pass comes; it finishes a moment later."""
    meant = rows_of(n)
    place.inbox.mkdir(parents=True, exist_ok=True)
    path = place.inbox / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([HEADER] + meant[: len(meant) // 2])
        fh.flush()
        first = place.hotline("run", "process_inbox", "--inline")
        w.writerows(meant[len(meant) // 2:])        # the writer goes on, into whatever file it had open
    for f in place.inbox.rglob("export.csv"):       # a quiet period later
        t = f.stat().st_mtime - 120
        os.utime(f, (t, t))
    second = place.hotline("run", "process_inbox", "--inline")
    outputs = [first.stdout + first.stderr, second.stdout + second.stderr]
    outputs += [p.read_text(encoding="utf-8") for p in place.inbox.rglob("*.report.txt")]
    stuck = sum(1 for p in place.inbox.iterdir() if p.is_file() and not p.name.endswith((".report.txt", ".complete")))
    return observe(place, meant, outputs, path) | {"stuck": stuck, "exit": first.returncode}


def _while_read(place: Place, n: int, change) -> tuple[dict, list]:
    """`hotline import` of a file that CHANGE alters once the first rows are stored; imported again
    if (and only if) the import said the file changed (what the operator or the inbox then does)."""
    path = place.dir / "export.csv"
    meant = change(path, None)
    proc = place.hotline("import", str(path), background=True)
    deadline = time.time() + 300
    while time.time() < deadline and not place.events() and proc.poll() is None:
        time.sleep(0.05)
    change(path, meant)
    out = proc.communicate(timeout=900)[0]
    outputs = [out]
    if "changed while it was being read" in out:
        again = place.hotline("import", str(path))
        outputs.append(again.stdout + again.stderr)
    return {"exit": proc.returncode}, outputs


def replaced_while_read(place: Place, n: int) -> dict:
    """The file replaced (renamed over) by a newer export while it is read."""
    newer = rows_of(n) + rows_of(n // 2, start=n + 1)

    def change(path, meant):
        if meant is None:
            write_csv(path, rows_of(n))
            return newer
        tmp = path.with_name("newer.csv")
        write_csv(tmp, newer)
        os.replace(tmp, path)

    status, outputs = _while_read(place, n, change)
    path = place.dir / "export.csv"
    return observe(place, newer, outputs, path) | status


def written_while_read(place: Place, n: int) -> dict:
    """The file still being written (appended) while `hotline import` reads it."""
    whole = rows_of(n)

    def change(path, meant):
        if meant is None:   # two thirds written: more than a batch, so rows are stored while it is read
            write_csv(path, whole[: len(whole) * 2 // 3])
            return whole
        with path.open("a", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(whole[len(whole) * 2 // 3:])

    status, outputs = _while_read(place, n, change)
    return observe(place, whole, outputs, place.dir / "export.csv") | status


FAULTS = [xlsx_dimension, nul_in_header, excel_rounded_numbers, blank_file, isolated_bad_ticket, inbox_half_written,
          replaced_while_read, written_while_read]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=6000,
                    help="tickets per file, two rows each (more than a batch of 5,000 rows: stored while read)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose `hotline` runs")
    ap.add_argument("--admin", help="PostgreSQL admin URL: each fault in a database of its own (default SQLite)")
    ap.add_argument("--only", help="run only the faults whose name contains this")
    args = ap.parse_args()
    print(f"tree {args.tree.resolve()}; {'PostgreSQL' if args.admin else 'SQLite'}; {args.tickets} tickets a file")
    print(f"{'fault':<24}{'rows':>7}{'stored':>8}{'told':>7}{'lost':>7}{'doubled':>9}{'stuck':>7}{'exit':>6}")
    totals = {"lost": 0, "doubled": 0, "stuck": 0}
    for fault in FAULTS:
        if args.only and args.only not in fault.__name__:
            continue
        place = Place(args.tree.resolve(), args.admin)
        try:
            r = fault(place, args.tickets)
        finally:
            place.close()
        r.setdefault("stuck", 0)
        for k in totals:
            totals[k] += r[k]
        print(f"{fault.__name__:<24}{r['rows']:>7}{r['stored']:>8}{r['told']:>7}{r['lost']:>7}{r['doubled']:>9}"
              f"{r['stuck']:>7}{r['exit']:>6}" + (f"  {r['note']}" if r.get("note") else ""), flush=True)
    print(f"{'total':<24}{'':>7}{'':>8}{'':>7}{totals['lost']:>7}{totals['doubled']:>9}{totals['stuck']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
