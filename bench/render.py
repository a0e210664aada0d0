"""Our documents against the renderers a competent engineer would pick, each in its own warm process.

    .venv/bin/python bench/render.py [--rounds 9] [--sides ours,weasyprint,chromium]

Two documents, same template and data on every side:
- ``letter``: a two-page supervision letter (督办函, GB/T 9704 文件格式) of one overdue ticket — the demo's commonest
  document (the letters and notices are three quarters of what it files);
- ``bulletin``: a 12-page weekly bulletin (100 units ranked, the ladder, escalations, late returns,
  typical cases).

Sides, each a child process started and warmed (three renders of each document) before the rounds:
- ``ours``: ``worker.rendering.render_pdf`` (reduced faces, trimmed user-agent sheet, paused
  collector, the parsed stylesheet kept);
- ``weasyprint``: plain WeasyPrint as its documentation shows it, with the caches one would add —
  the stylesheet and its ``FontConfiguration`` made once per process — the system Noto CJK faces
  and HarfBuzz's hb-subset (libharfbuzz-subset0, which ./run installs);
- ``chromium``: Debian's Chromium, headless, one page kept open through Playwright; each render is
  ``page.set_content`` then ``page.pdf()`` (DevTools ``Page.printToPDF``), the same HTML with the
  same stylesheet inlined and the system faces;
- ``layout``: not a peer but a floor — ours stopped after WeasyPrint's layout (template, parsing,
  cascade, line breaking, pagination: ``worker.rendering.render_layout``), before any drawing or
  PDF.  Every WeasyPrint render pays at least this, so no target under it can be met with the
  stack's renderer.
Every round asks each side for one render of each document, sides in rotating order; a side times
the render itself (its collection of the garbage included), so no pipe is in the figure.  Figures
are min / median / max over the rounds; each side's last PDF is checked for its page count and for
the text it must carry.
Targets (issue 21): the letter ≤ 15 ms warm; the bulletin ≥ 2× plain WeasyPrint and ≥ 2× Chromium.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOC = {"header": "莱山区人民政府办公室", "issuer": "莱山区人民政府办公室", "title": "12345热线工单督办函",
       "title_lines": ["12345热线工单督办函"], "date": date(2026, 11, 16), "issue_no": None,
       "number": "莱政办督〔2026〕12号", "district": "莱山区", "to": "区城市管理局", "draft": False,
       "annotation": "联系单位：莱山区89000民生服务中心督办科，联系人：王敏，联系电话：0535-6213451",
       "contact_body": "莱山区89000民生服务中心", "cc": ["莱山区89000民生服务中心"], "distribution": [],
       "printer": "莱山区人民政府办公室"}
CONTACT = {"office": "莱山区12345民生服务中心督办科", "name": "王敏", "phone": "0535-6213451", "email": "d@example.gov.cn"}
CONTENT = "反映凤凰街道迎春大街某小区物业公司长期不打扫楼道，电梯经常故障无人维修，要求物业履行职责。"
SYSTEM_STACKS = {"title_stack": '"Noto Serif CJK SC", serif', "body_stack": '"Noto Serif CJK SC", serif',
                 "heading1_stack": '"Noto Sans CJK SC", sans-serif', "heading2_stack": '"AR PL UKai CN", serif'}


def letter(n=1):
    """A supervision letter listing ``n`` overdue tickets (1: two pages)."""
    rows = [{"number": f"2026111600{i:05d}", "caller_name": "张*", "caller_phone": "138****5678",
             "content": CONTENT, "clock_label": "办结时限", "clock_due": datetime(2026, 11, 19, 23, 59, 59),
             "stage_label": "办结超期"} for i in range(n)]
    return "documents/supervision_letter.html", {"doc": DOC, "rows": rows,
                                                  "stages": ["办结超期"], "deadline": date(2026, 11, 17),
                                                  "contact": CONTACT}


def bulletin(n=100):
    """A weekly bulletin of ``n`` units with the ladder, escalations and typical cases (100: 12 pages)."""
    from worker.metrics import Rate, UnitMetrics

    units = [UnitMetrics(f"U{i:03d}", f"第{i + 1}街道办事处", "territorial", volume=40 + i % 17, dispatches=41 + i % 17,
                         response=Rate(38, 40), resolution=Rate(30 + i % 9, 40), satisfaction=Rate(31 + i % 8, 40),
                         score=0.9 - i / 1000, rank=i + 1, meets_requirement=i % 5 != 0) for i in range(n)]
    cases = [{"unit_name": u.unit_name, "number": f"2026111600{i:05d}", "content": CONTENT,
              "what_happened": "交办后6小时内答复", "satisfaction": "satisfied", "problem": "超期办结，来电人评价“不满意”"}
             for i, u in enumerate(units[:5])]
    ladder = [{"unit_name": u.unit_name, "streak": 3 - i, "tier": "分管领导约谈", "since": "10月19日",
               "next": "主要领导约谈"} for i, u in enumerate(units[-3:])]
    overdue = [{"unit_name": u.unit_name, "count": 2, "numbers": "202611160000001、202611160000002",
                "oldest": date(2026, 11, 10)} for u in units[-4:]]
    return "documents/weekly_bulletin.html", {
        "doc": dict(DOC, header="莱山区89000民生服务中心", issuer="莱山区89000民生服务中心", title="12345热线工作周通报",
                    title_lines=["12345热线工作周通报"], issue_no=12, number="莱热线通〔2026〕12号", to=None,
                    annotation=None, cc=[], distribution=[("发", "各承办单位")], printer="莱山区89000民生服务中心"),
        "period_label": "2026年11月9日至11月15日", "ranked": units, "unranked": [],
        "requirement": {"resolution_rate": 0.85, "satisfaction_rate": 0.9}, "failing": units[-3:],
        "escalations": [{"unit_name": u.unit_name, "tier_label": "区级分管领导约谈单位主要负责同志",
                         "period": "2026年第46周", "streak": "自10月19日起"} for u in units[-3:]],
        "exposed": [], "ladder": ladder, "overdue_letters": overdue, "late_returns": units[:4],
        "positive": cases, "negative": cases, "total_resolution": Rate(30 * n, 40 * n),
        "total_satisfaction": Rate(33 * n, 40 * n), "bottom_n": 5}


# What each document must show on every side, and how many pages.
DOCUMENTS = {"letter": (letter, 2, "2026111600" + "00000"), "bulletin": (bulletin, 12, "第100街道办事处")}


# -- the sides (each runs in a child process) ---------------------------------------------------------
def _html_and_css():
    """Per document: (our template's HTML, the stylesheet with the system faces)."""
    from markupsafe import Markup

    from worker.rendering import environment, render_html

    css = environment().get_template("documents/style.css").render(**{k: Markup(v) for k, v in SYSTEM_STACKS.items()})
    return {name: render_html(*build()[:1], **build()[1]) for name, (build, _, _) in DOCUMENTS.items()}, css


def side_ours():
    from worker.config import load_settings
    from worker.rendering import render_pdf

    built = {name: build() for name, (build, _, _) in DOCUMENTS.items()}
    fonts_dir = load_settings().fonts_dir
    return lambda name: render_pdf(built[name][0], fonts_dir=fonts_dir, **built[name][1])[0]


def side_weasyprint():
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    pages, css_text = _html_and_css()
    fonts = FontConfiguration()
    css = CSS(string=css_text, font_config=fonts)
    return lambda name: HTML(string=pages[name]).write_pdf(stylesheets=[css], font_config=fonts)


def side_chromium():
    from playwright.sync_api import sync_playwright

    pages, css_text = _html_and_css()
    pages = {n: h.replace("</head>", f"<style>{css_text}</style></head>", 1) for n, h in pages.items()}
    playwright = sync_playwright().start()
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    page = browser.new_page()

    def render(name):
        page.set_content(pages[name], wait_until="load")
        return page.pdf(prefer_css_page_size=True, print_background=True)
    return render


def side_layout():
    from worker.config import load_settings
    from worker.rendering import render_layout

    built = {name: build() for name, (build, _, _) in DOCUMENTS.items()}
    fonts_dir = load_settings().fonts_dir
    return lambda name: render_layout(built[name][0], fonts_dir=fonts_dir, **built[name][1])[0] and None


SIDES = {"ours": side_ours, "layout": side_layout, "weasyprint": side_weasyprint, "chromium": side_chromium}


def child(side: str) -> None:
    """Read a document name per line, render it, answer {"seconds", "path"} (the PDF in a temp file)."""
    import gc

    render = SIDES[side]()
    out_dir = Path(tempfile.mkdtemp(prefix=f"bench-render-{side}-"))
    for name in DOCUMENTS:
        for _ in range(3):
            render(name)
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        gc.collect()
        started = time.perf_counter()
        pdf = render(name)
        gc.collect()
        seconds = time.perf_counter() - started
        path = out_dir / f"{name}.pdf"
        if pdf is not None:
            path.write_bytes(pdf)
        print(json.dumps({"seconds": seconds, "path": str(path) if pdf is not None else None}), flush=True)


# -- the parent ---------------------------------------------------------------------------------------
def check(side: str, name: str, path: str | None) -> str:
    from pypdf import PdfReader

    if path is None:
        return "layout only, no PDF"

    _, pages, needle = DOCUMENTS[name]
    reader = PdfReader(path)
    text = "".join(p.extract_text() or "" for p in reader.pages)
    problems = []
    if len(reader.pages) != pages:
        problems.append(f"{len(reader.pages)} pages, not {pages}")
    if needle not in text.replace(" ", ""):
        problems.append(f"{needle!r} not in its text")
    size = os.path.getsize(path) / 1024
    return f"{len(reader.pages)} pages, {size:.0f} KB" + (f" — {'; '.join(problems)}" if problems else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--sides", default="ours,layout,weasyprint,chromium")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    import weasyprint
    from weasyprint.pdf.fonts import harfbuzz_subset

    sides = [s for s in args.sides.split(",") if s]
    if "chromium" in sides and not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("chromium is not installed (apt-get install chromium): that side is left out")
        sides.remove("chromium")
    elif "chromium" in sides and importlib.util.find_spec("playwright") is None:
        print("playwright is not installed (pip install -e '.[test]'): the chromium side is left out")
        sides.remove("chromium")
    # WeasyPrint is pure Python: how the interpreter was built (Debian's: PGO + LTO) moves the figures.
    print(f"Python {platform.python_version()} ({sys.executable}), WeasyPrint {weasyprint.__version__}, "
          f"hb-subset {'yes' if harfbuzz_subset else 'NO (fontTools fallback: the figures are not the target)'}")
    procs = {s: subprocess.Popen([sys.executable, __file__, "--child", s], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT) for s in sides}
    for side, proc in procs.items():
        if proc.stdout.readline().strip() != "ready":
            sys.exit(f"the {side} side did not start")
    times = {(s, n): [] for s in sides for n in DOCUMENTS}
    last = {}
    for r in range(args.rounds):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        for name in DOCUMENTS:
            for side in order:
                proc = procs[side]
                proc.stdin.write(name + "\n")
                proc.stdin.flush()
                answer = json.loads(proc.stdout.readline())
                times[(side, name)].append(answer["seconds"])
                last[(side, name)] = answer["path"]
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    medians = {}
    for name in DOCUMENTS:
        print(f"\n{name} ({args.rounds} interleaved rounds, min / median / max):")
        for side in sides:
            ts = sorted(times[(side, name)])
            medians[(side, name)] = statistics.median(ts)
            unit, scale = ("ms", 1000) if name == "letter" else ("s", 1)
            print(f"  {side:<10} {ts[0] * scale:7.3f} / {medians[(side, name)] * scale:7.3f} / {ts[-1] * scale:7.3f} {unit}"
                  f"   ({check(side, name, last[(side, name)])})")
        for peer in (s for s in sides if s not in ("ours", "layout")):
            print(f"  ours ÷ {peer}: {medians[(peer, name)] / medians[('ours', name)]:.2f}× faster (medians)")
    if "ours" in sides:
        letter_ms = medians[("ours", "letter")] * 1000
        print(f"\ntarget: the letter ≤ 15 ms warm: {letter_ms:.1f} ms — {'met' if letter_ms <= 15 else 'NOT met'}"
              + (f"; WeasyPrint's layout alone takes {medians[('layout', 'letter')] * 1000:.1f} ms"
                 if "layout" in sides else ""))
        for peer in (s for s in sides if s not in ("ours", "layout")):
            ratio = medians[(peer, "bulletin")] / medians[("ours", "bulletin")]
            floor = (f"; with no drawing and no PDF at all (the layout alone) it would be "
                     f"{medians[(peer, 'bulletin')] / medians[('layout', 'bulletin')]:.2f}×" if "layout" in sides else "")
            print(f"target: the bulletin ≥ 2× {peer}: {ratio:.2f}× — {'met' if ratio >= 2 else 'NOT met'}{floor}")


if __name__ == "__main__":
    main()
