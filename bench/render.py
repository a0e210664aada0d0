"""Render time and PDF size of a 12-page table: our reduced CJK faces against plain Noto CJK.

    .venv/bin/python bench/render.py [--repeat 3] [--samples 15]

Two 12-page documents: a weekly bulletin (150 units, escalations, late returns, typical cases) and a
ticket table (a supervision letter of 86 tickets).  Each in four set-ups, same template and data: our
reduced GB2312 faces or the plain system Noto Serif CJK SC (65,000 glyphs), each subset by
HarfBuzz's hb-subset (libharfbuzz-subset0, which ./run and the Dockerfile install) or by
WeasyPrint's fontTools fallback (what a machine without that library does: the ~6.5 s baseline of
issue 6).  Warm figures: the best of --repeat after one warm-up; ours with hb-subset (what ./run
installs) also as best, median and worst of --samples runs, since one best run says little about
the render a user waits for on a shared machine.
Targets (issue 6): ≥ 5× faster than plain Noto CJK, ≤ 300 KB for 12 pages, < 1 s warm.
"""
from __future__ import annotations

import argparse
import gc
import io
import platform
import statistics
import sys
import time
from datetime import date, datetime

import weasyprint
from markupsafe import Markup
from pypdf import PdfReader
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from worker.metrics import Rate, UnitMetrics
from worker.rendering import environment, render_html, render_pdf

DOC = {"header": "莱山区89000民生服务中心", "issuer": "莱山区89000民生服务中心", "title": "12345热线工单督办函",
       "date": date(2026, 11, 16), "issue_no": None, "number": "莱热线督〔2026〕12号", "district": "莱山区",
       "cc": ["莱山区人民政府办公室"], "printer": "莱山区89000民生服务中心"}
CONTACT = {"office": "莱山区89000民生服务中心督办科", "name": "王敏", "phone": "0535-6213451", "email": "d@example.gov.cn"}
CONTENT = "反映凤凰街道迎春大街某小区物业公司长期不打扫楼道，电梯经常故障无人维修，要求物业履行职责。"


def letter(n):
    """A supervision letter listing ``n`` overdue tickets (86 rows: 12 pages)."""
    rows = [{"number": f"2026111600{i:05d}", "caller_name": "张*", "caller_phone": "138****5678",
             "content": CONTENT, "clock_label": "办结时限", "clock_due": datetime(2026, 11, 19, 23, 59, 59),
             "stage_label": "办结超期"} for i in range(n)]
    return "documents/supervision_letter.html", {"doc": DOC, "unit_name": "区城市管理局", "rows": rows,
                                                  "stages": ["办结超期"], "deadline": date(2026, 11, 17),
                                                  "contact": CONTACT}


def bulletin(n):
    """A weekly bulletin of ``n`` units with escalations and typical cases (150 units: 12 pages)."""
    units = []
    for i in range(n):
        u = UnitMetrics(f"U{i:03d}", f"第{i + 1}街道办事处", "territorial", volume=40 + i % 17, dispatches=41 + i % 17,
                        response=Rate(38, 40), resolution=Rate(30 + i % 9, 40), satisfaction=Rate(31 + i % 8, 40),
                        score=0.9 - i / 1000, rank=i + 1, meets_requirement=i % 5 != 0)
        units.append(u)
    cases = [{"unit_name": u.unit_name, "number": f"2026111600{i:05d}", "content": CONTENT,
              "what_happened": "交办后6小时内答复", "satisfaction": "satisfied", "problem": "超期办结，来电人评价“不满意”"}
             for i, u in enumerate(units[:5])]
    return "documents/weekly_bulletin.html", {
        "doc": dict(DOC, title="12345热线工作周通报", issue_no=12, number="莱热线通〔2026〕12号", cc=[], printer=None),
        "period_label": "2026年11月9日至11月15日", "ranked": units, "unranked": [],
        "requirement": {"resolution_rate": 0.85, "satisfaction_rate": 0.9}, "failing": units[-3:],
        "escalations": [{"unit_name": u.unit_name, "tier_label": "区级分管领导约谈单位主要负责同志",
                         "period": "2026年第46周", "streak": "自10月19日起"} for u in units[-3:]],
        "exposed": [], "late_returns": units[:4], "positive": cases, "negative": cases,
        "total_resolution": Rate(30 * n, 40 * n), "total_satisfaction": Rate(33 * n, 40 * n), "bottom_n": 5}


DOCUMENTS = {"weekly bulletin": (bulletin, 150), "ticket table (supervision letter)": (letter, 86)}


def plain(template, context):
    fc = FontConfiguration()
    stacks = {"title_stack": '"Noto Serif CJK SC", serif', "body_stack": '"Noto Serif CJK SC", serif',
              "heading1_stack": '"Noto Sans CJK SC", sans-serif', "heading2_stack": '"AR PL UKai CN", serif'}
    css = CSS(string=environment().get_template("documents/style.css").render(
        **{k: Markup(v) for k, v in stacks.items()}), font_config=fc)
    return HTML(string=render_html(template, **context)).write_pdf(stylesheets=[css], font_config=fc)


def timed(fn, repeat):
    """(sorted run times, the last output) of ``repeat`` runs after a warm-up; each run pays for
    collecting its own garbage (the renderer pauses the collector, so the bill would otherwise
    fall on whatever runs next)."""
    fn()
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        gc.collect()
        times.append(time.perf_counter() - t)
    return sorted(times), out


def main():
    import weasyprint.pdf.fonts as pdf_fonts

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="runs of each baseline (best is shown)")
    ap.add_argument("--samples", type=int, default=15, help="runs of ours with hb-subset (spread is shown)")
    args = ap.parse_args()
    hb = pdf_fonts.harfbuzz_subset
    # WeasyPrint is pure Python: how the interpreter was built (Debian's: PGO + LTO) moves the figures.
    print(f"Python {platform.python_version()} ({sys.executable}), WeasyPrint {weasyprint.__version__}")
    if hb is None:
        print("hb-subset: libharfbuzz-subset0 is not installed; only the fontTools figures follow")
    for label, (build, n) in DOCUMENTS.items():
        template, context = build(n)
        results = {}
        for subsetter, lib in (("hb-subset", hb), ("fontTools", None)):
            if subsetter == "hb-subset" and lib is None:
                continue
            pdf_fonts.harfbuzz_subset = lib
            results[("ours", subsetter)] = timed(lambda t=template, c=context: render_pdf(t, **c)[0],
                                                 args.samples if subsetter == "hb-subset" else args.repeat)
            results[("plain", subsetter)] = timed(lambda t=template, c=context: plain(t, c), args.repeat)
        pdf_fonts.harfbuzz_subset = hb
        ours_times, ours = results.get(("ours", "hb-subset")) or results[("ours", "fontTools")]
        print(f"{label}: {len(PdfReader(io.BytesIO(ours)).pages)} pages")
        for (faces, subsetter), (times, pdf) in results.items():
            name = "ours: reduced GB2312 faces" if faces == "ours" else "plain Noto Serif CJK SC  "
            print(f"  {name} + {subsetter:<9}: {times[0]:5.2f} s, {len(pdf) / 1024:4.0f} KB")
        baseline = results[("plain", "fontTools")][0][0]
        median, worst = statistics.median(ours_times), ours_times[-1]
        print(f"  speed-up against plain Noto CJK (fontTools subsetting, the issue's baseline): "
              f"{baseline / ours_times[0]:.1f}x (target ≥ 5x); size ≤ 300 KB: {len(ours) <= 300 * 1024}")
        print(f"  ours warm, {len(ours_times)} runs: best {ours_times[0]:.2f} s, median {median:.2f} s, "
              f"worst {worst:.2f} s; under 1 s warm (median): {median < 1}, every run: {worst < 1}")

if __name__ == "__main__":
    main()
