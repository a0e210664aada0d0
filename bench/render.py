"""Render time and PDF size of a 12-page table: our reduced CJK faces against plain Noto CJK.

    .venv/bin/python bench/render.py [--rows 130] [--repeat 3]

Same template, same rows, in four set-ups: our reduced GB2312 faces or the plain system Noto Serif
CJK SC (65,000 glyphs), each subset by HarfBuzz's hb-subset (libharfbuzz-subset0, which ./run and
the Dockerfile install) or by WeasyPrint's fontTools fallback (what a machine without that library
does: the ~6.5 s baseline of issue 6).  Warm figures: the best of --repeat after one warm-up.
Targets (issue 6): ≥ 5× faster than plain Noto CJK, ≤ 300 KB for 12 pages, < 1 s warm.
"""
from __future__ import annotations

import argparse
import io
import time
from datetime import date, datetime

from markupsafe import Markup
from pypdf import PdfReader
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from worker.rendering import environment, render_html, render_pdf

DOC = {"header": "区12345政务服务热线", "issuer": "区89000民生服务中心", "title": "12345热线工单督办函",
       "date": date(2026, 11, 16), "issue_no": 12}


def rows(n):
    return [{"number": f"2026111600{i:05d}", "caller_name": "张*", "caller_phone": "138****5678",
             "content": "反映凤凰街道迎春大街某小区物业公司长期不打扫楼道，电梯经常故障无人维修，要求物业履行职责。",
             "completion_due": datetime(2026, 11, 19, 23, 59, 59), "stage": "overdue"} for i in range(n)]


def ctx(n):
    return {"doc": DOC, "unit_name": "区城市管理局", "rows": rows(n), "stages": ["超期未办结"],
            "stage_label": lambda r: "超期未办结"}


def plain(n):
    fc = FontConfiguration()
    css = CSS(string=environment().get_template("documents/style.css").render(
        font_stack=Markup('"Noto Serif CJK SC", serif'), bold_stack=Markup('"Noto Serif CJK SC", serif')),
        font_config=fc)
    html = render_html("documents/supervision_letter.html", **ctx(n))
    return HTML(string=html).write_pdf(stylesheets=[css], font_config=fc)


def timed(fn, repeat):
    fn()
    best, out = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best or 1e9, time.perf_counter() - t)
    return best, out


def main():
    import weasyprint.pdf.fonts as pdf_fonts

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=130)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    hb = pdf_fonts.harfbuzz_subset
    results = {}
    for subsetter, lib in (("hb-subset", hb), ("fontTools", None)):
        if subsetter == "hb-subset" and lib is None:
            print("hb-subset: libharfbuzz-subset0 is not installed; only the fontTools figures follow")
            continue
        pdf_fonts.harfbuzz_subset = lib
        results[("ours", subsetter)] = timed(
            lambda: render_pdf("documents/supervision_letter.html", **ctx(args.rows))[0], args.repeat)
        results[("plain", subsetter)] = timed(lambda: plain(args.rows), args.repeat)
    pdf_fonts.harfbuzz_subset = hb
    ours_t, ours = results.get(("ours", "hb-subset")) or results[("ours", "fontTools")]
    pages = len(PdfReader(io.BytesIO(ours)).pages)
    print(f"{pages}-page table, {args.rows} rows")
    for (faces, subsetter), (t, pdf) in results.items():
        name = "ours: reduced GB2312 faces" if faces == "ours" else "plain Noto Serif CJK SC  "
        print(f"{name} + {subsetter:<9}: {t:5.2f} s, {len(pdf) / 1024:4.0f} KB")
    baseline = results[("plain", "fontTools")][0]
    print(f"speed-up against plain Noto CJK (fontTools subsetting, the issue's baseline): {baseline / ours_t:.1f}x "
          f"(target ≥ 5x); size ≤ 300 KB: {len(ours) <= 300 * 1024}; under 1 s warm: {ours_t < 1}")


if __name__ == "__main__":
    main()
