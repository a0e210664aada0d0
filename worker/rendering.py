"""Documents: Jinja2 templates rendered to PDF by WeasyPrint, safely and deterministically.

- Autoescape is on for every template; ticket text is data, never markup.
- ``SafeFetcher`` serves only the project's own assets (``hotline-asset:`` URLs: the reduced
  fonts and the stylesheet).  ``file://``, ``http(s)://`` and ``data:`` are refused, so ticket
  content such as ``<img src="file:///etc/passwd">`` or CSS ``url(...)`` fetches nothing.
- Callers are masked before anything reaches a template (``mask_phone``, ``mask_name``).
- Dates come from the period and the run, never from the clock, so a past period re-renders
  to the same content.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import math
import re
import unicodedata
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .config import PROJECT_ROOT
from .fonts import prepare
from .pdf_output import install as install_pdf_output
from .times import chinese_date
from .vocabulary import REPLY_KINDS, SATISFACTION_WORDS

TEMPLATES = PROJECT_ROOT / "templates"
ASSET_SCHEME = "hotline-asset:"
log = logging.getLogger(__name__)


# -- masking ------------------------------------------------------------------------------------
# One masking rule for every text that leaves the centre (documents, spreadsheets, e-mail subjects,
# bodies and attachment names, the console of a masked role): ``mask_text``.  It reads the text as
# NFKC folds it (１３８…, －, the ideographic space read as 138, -, a space) while the text around
# what it masks is kept as written (the document's full-width punctuation).  Digits are read in runs
# whose groups any separators join (spaces, dots, hyphens and dashes, brackets, up to three in a row);
# a number is one or more whole groups of a run:
# - mobile: 1[3-9] and 9 digits, with any +86 / 0086 / 86 / 0 before it → 138****5678;
# - landline: 0, the area code (010, 02x, else 0 and 3 digits) and a local number of 7-8 digits, or
#   +86 and the area code without its 0 → 0535-668****: the area code as written, the first digits
#   of the local number;
# - a resident ID number of 18 digits (the last may be X) or of 15, with a province and a birth
#   date that exist → 370602********1234, 370602******123;
# - a bare local number of 7-8 digits where the text calls it a phone (电话、手机、座机…);
# - an e-mail address → z***@example.com;
# - the caller's own name wherever it appears → 张**.
# A 15-digit ticket number (its "province" 20) and dates stay as they are.
_SEPARATOR = " \t._·\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fb()-"   # "-" last: literal in a class
_RUN = re.compile(rf"\(?\+?\d(?:[{_SEPARATOR}]{{0,3}}\d)*(?:[Xx](?![0-9A-Za-z]))?", re.ASCII)
_GROUP = re.compile(r"\d+")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9][A-Za-z0-9._%+-]*)@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
_CALLED_A_PHONE = re.compile(r"(?:电话|手机|座机|号码|联系方式|联系|热线|tel|phone)[:\s]*$", re.IGNORECASE)
_PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
              "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
              "83", "91"}
_ID18 = re.compile(r"\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_ID15 = re.compile(r"\d{6}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
_MOBILE = re.compile(r"(?:0086|86|0)?(1[3-9]\d{9})")
_NFKC: dict[str, str] = {}


def _folded(text: str) -> tuple[str, list[int]]:
    """The text as NFKC folds it, character by character, and for each of its characters the index
    of the character of TEXT it comes from (and one past the end)."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    out, origin = [], []
    for i, c in enumerate(text):
        folded = _NFKC.get(c)
        if folded is None:
            folded = _NFKC[c] = unicodedata.normalize("NFKC", c)
        out.append(folded)
        origin += [i] * len(folded)
    origin.append(len(text))
    return "".join(out), origin


def _number(digits: str, plus: bool, called_a_phone: bool) -> tuple[int, str] | None:
    """How a number of DIGITS is masked: (how many of its leading digits are kept as written, the
    masked rest), or None if it is not a phone or an ID number."""
    n = len(digits)
    m = _MOBILE.fullmatch(digits)
    if m:
        mobile = m.group(1)
        return m.start(1), f"{mobile[:3]}****{mobile[-4:]}"
    if n in (15, 18) and digits[:2] in _PROVINCES and (_ID18 if n == 18 else _ID15).fullmatch(digits):
        return 0, f"{digits[:6]}{'*' * (n - 10 if n == 18 else n - 9)}{digits[-4 if n == 18 else -3:]}"
    national = digits
    if plus and digits.startswith("86"):
        national = "0" + digits[2:]
    elif digits.startswith("0086"):
        national = "0" + digits[4:]
    if national.startswith("0") and len(national) >= 10:
        area = 3 if national[1] in "12" else 4
        local = national[area:]
        if len(local) in (7, 8) and local[0] != "0":
            kept = len(digits) - len(local)
            return kept, f"{local[:-4]}****"
    if called_a_phone and not plus and n in (7, 8) and digits[0] in "23456789":
        return 0, f"{digits[:-4]}****"
    return None


def _numbers(folded: str, free) -> list[tuple[int, int, str]]:
    """The masked numbers of the folded text: (start, end, replacement)."""
    spans = []
    for run in _RUN.finditer(folded):
        if folded[run.end():run.end() + 1] == "*" or folded[run.start() - 1:run.start()] == "*":
            continue   # a number masked already (138****5678): its kept digits are not another number
        groups = [(g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())]
        suffix = run.group()[-1] in "Xx"
        i = 0
        while i < len(groups):
            for j in range(len(groups) - 1, i - 1, -1):
                digits = "".join(folded[a:b] for a, b in groups[i:j + 1])
                if len(digits) > 20:
                    continue
                check = run.group()[-1] if suffix and j == len(groups) - 1 and len(digits) == 17 else ""
                start = run.start() if i == 0 else groups[i][0]   # with a "(" or "+" before the digits
                found = _number(digits + check, "+" in folded[start:groups[i][0]],
                                i == 0 and bool(_CALLED_A_PHONE.search(folded[max(0, start - 8):start])))
                if found is None:
                    continue
                kept, masked = found
                end = groups[j][1] + len(check)
                cut = groups[i][0]   # where the masked part begins: after the KEPT leading digits as written
                for a, b in groups[i:j + 1]:
                    if kept <= b - a:
                        cut = a + kept
                        break
                    kept -= b - a
                while not folded[cut].isdigit():   # with the separator after them: 0535-, (0535), +86
                    cut += 1
                if folded[start] == "(" and ")" not in folded[start:cut]:
                    start += 1   # a bracket before the number, not around its area code
                if free(start, end):
                    spans.append((start, end, folded[start:cut] + masked))
                i = j
                break
            i += 1
    return spans


def mask_text(text: str | None, caller: str | None = None) -> str:
    """TEXT as it may leave the centre: phone numbers, ID numbers and e-mail addresses masked, and the
    caller's own name (CALLER) wherever it appears (a caller often repeats them in the complaint)."""
    if not text:
        return ""
    text = str(text)
    name = unicodedata.normalize("NFKC", caller.strip()) if caller and len(caller.strip()) >= 2 else None
    folded, origin = _folded(text)
    spans: list[tuple[int, int, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _ in spans)

    for m in _EMAIL.finditer(folded):
        spans.append((m.start(), m.end(), f"{m.group(1)[0]}***@{m.group(2)}"))
    if name:
        at = folded.find(name)
        while at >= 0:
            if free(at, at + len(name)):
                spans.append((at, at + len(name), mask_name(name)))
            at = folded.find(name, at + len(name))
    spans += _numbers(folded, free)
    if not spans:
        return text
    out, done = [], 0
    for a, b, replacement in sorted(spans):
        start = max(origin[a], done)
        out += [text[done:start], replacement]
        done = max(done, origin[b - 1] + 1)
    out.append(text[done:])
    return "".join(out)


_COUNTRY = re.compile(r"^(?:\+|00)?86[\s-]?(?=1[3-9]\d\*)")


def mask_phone(phone: str | None) -> str:
    """A caller's number field, by the same rule as ``mask_text``, a mobile in its national form
    (138****5678: the +86 of a mobile adds nothing in a document); a number in no known format
    keeps only its first three digits."""
    if not phone:
        return ""
    phone = str(phone).strip()
    masked = _COUNTRY.sub("", mask_text(phone))
    if masked != phone:
        return masked
    digits = re.sub(r"\D", "", phone)
    return digits[:3] + "*" * max(4, len(digits) - 3) if len(digits) > 3 else "*" * len(digits)


def mask_name(name: str | None) -> str:
    """张** — the surname and one star per remaining character."""
    if not name:
        return ""
    name = str(name).strip()
    return name[0] + "*" * max(1, len(name) - 1)


FREE_TEXT = ("content", "return_reason", "address", "reason", "note")   # what a caller or a unit wrote


def masked_ticket(row: dict) -> dict:
    """A ticket row as it may leave the centre: the caller's name and number masked, and every free
    text it carries (``FREE_TEXT``) through ``mask_text`` with the caller's own name."""
    out = dict(row)
    caller = row.get("caller_name")
    if "caller_name" in row:
        out["caller_name"] = mask_name(caller)
    if "caller_phone" in row:
        out["caller_phone"] = mask_phone(row.get("caller_phone"))
    for key in FREE_TEXT:
        if row.get(key):
            out[key] = mask_text(row[key], caller)
    return out


def public_ticket(row: dict, names: dict[str, str] | None = None) -> dict:
    """A ticket row as documents may show it: masked (``masked_ticket``), unit names resolved."""
    out = masked_ticket({"caller_name": None, "caller_phone": None, **row})
    out["content"] = out.get("content") or ""
    if names is not None:
        unit = row.get("unit_code")
        out["unit_name"] = names.get(unit, unit) if unit is not None else None
    return out


def return_link(link: dict, names: dict[str, str], caller: str | None = None) -> str:
    """One return in a ticket's chain, as the daily sheet and the analysis notice print it:
    unit, time, reason (masked, with the ticket's CALLER) and the unit it suggested."""
    unit = names.get(link["unit"], link["unit"])
    suggested = names.get(link["suggested"], link["suggested"]) if link.get("suggested") else "未建议"
    return (f"{unit}于{link['returned_at'][:16]}回退，理由：{mask_text(link.get('reason'), caller) or '未说明理由'}；"
            f"建议承办单位：{suggested}")


# -- charts ----------------------------------------------------------------------------------------
def bar_chart(labels: list[str], values: list[float | None], width: int = 640, height: int = 220,
              percent: bool = True, color: str = "#b22222") -> Markup:
    """A horizontal-axis bar chart as inline SVG (labels escaped)."""
    n = max(1, len(values))
    top = max([v for v in values if v is not None] + [1e-9])
    plot_h, left, bottom = height - 60, 40, 50
    bar_w = (width - left - 10) / n
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="9">'),
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" stroke="#333"/>']
    for i, (label, v) in enumerate(zip(labels, values)):
        x = left + i * bar_w + bar_w * 0.15
        h = 0 if v is None else plot_h * v / top
        y = height - bottom - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.7:.1f}" height="{h:.1f}" fill="{color}"/>')
        shown = "—" if v is None else (f"{100 * v:.0f}" if percent else f"{v:.0f}")
        parts.append(f'<text x="{x + bar_w * 0.35:.1f}" y="{y - 2:.1f}" text-anchor="middle">{escape(shown)}</text>')
        parts.append(f'<text x="{x + bar_w * 0.35:.1f}" y="{height - bottom + 10}" text-anchor="end" '
                     f'transform="rotate(-45 {x + bar_w * 0.35:.1f} {height - bottom + 10})">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round axis values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    span = max(hi - lo, 1e-9)
    raw = span / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    out, v = [], first
    while v < hi + step * 0.999:
        out.append(round(v, 10))
        v += step
    return out


def line_chart(labels: list[str], series: dict[str, list[float | None]], width: int = 640, height: int = 200,
               percent: bool = False) -> Markup:
    """Lines over labelled points with a y-axis scale; a None value (no data that period) is a gap,
    never a zero.  Counts are scaled from 0; percentages from a round value below the lowest."""
    colors = ["#b22222", "#1f4e79", "#2e7d32", "#6a1b9a"]
    left, bottom, top_pad = 50, 30, 18
    values = [v for vs in series.values() for v in vs if v is not None]
    lo, hi = (min(values), max(values)) if values else (0, 1)
    lo = 0 if not percent else lo
    ticks = _ticks(lo, hi if hi > lo else lo + (0.01 if percent else 1))
    lo, hi = ticks[0], ticks[-1]
    n = max(1, len(labels) - 1)
    x = lambda i: left + (width - left - 20) * i / n
    y = lambda v: top_pad + (height - bottom - top_pad) * (1 - (v - lo) / (hi - lo))
    shown = lambda v: f"{100 * v:.1f}" if percent else f"{v:.0f}"
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" font-size="9">'),
             f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{height - bottom}" stroke="#333"/>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>']
    for t in ticks:
        parts.append(f'<line x1="{left - 3}" y1="{y(t):.1f}" x2="{width - 10}" y2="{y(t):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 5}" y="{y(t) + 3:.1f}" text-anchor="end">{escape(shown(t))}</text>')
    for i, label in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 12}" text-anchor="middle">{escape(label)}</text>')
    for k, (name, vs) in enumerate(series.items()):
        color = colors[k % len(colors)]
        segment: list[tuple[float, float]] = []
        for i, v in enumerate([*vs, None]):
            if v is not None:
                segment.append((x(i), y(v)))
                continue
            if len(segment) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                             + " ".join(f"{a:.1f},{b:.1f}" for a, b in segment) + '"/>')
            segment = []
        for i, v in enumerate(vs):
            if v is not None:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}"/>'
                             f'<text x="{x(i):.1f}" y="{y(v) - 5:.1f}" text-anchor="middle">{escape(shown(v))}</text>')
        parts.append(f'<text x="{left + 10 + 110 * k}" y="10" fill="{color}">■ {escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# -- environment ----------------------------------------------------------------------------------
def _pct(rate) -> str:
    """A rate as documents print it: "—" when it cannot be computed (never "n/a" in Chinese text)."""
    return "—" if rate is None or rate.den == 0 else rate.pct()


NO_DATA = "—（无数据）"


def rate_text(rate) -> str:
    """A rate with its fraction, as a sentence prints it: "97.61%（1021/1046）"; "—（无数据）" when
    its denominator is 0 (never "0/0")."""
    return NO_DATA if rate is None or rate.den == 0 else f"{rate.pct()}（{rate.num}/{rate.den}）"


def _score(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _change(now, before) -> str:
    """环比 / 同比: a count's relative change, a rate's difference in percentage points; "—" when
    there is nothing to compare with (no volume, or a rate that is n/a)."""
    if now is None or before is None or isinstance(now, int):
        return "—" if not before or now is None else f"{100 * (now - before) / before:+.1f}%"
    if now.value is None or before.value is None:
        return "—"
    return f"{100 * (now.value - before.value):+.2f}个百分点"


def _cn_date(value) -> str:
    if value is None:
        return ""
    return chinese_date(value.date() if isinstance(value, datetime) else value)


def _cn_time(value) -> str:
    if value is None:
        return "—"
    return f"{value.month}月{value.day}日 {value:%H:%M}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(
                      disabled_extensions=("txt",), default=True, default_for_string=True), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, rate_text=rate_text, score=_score, change=_change, cn_date=_cn_date, cn_time=_cn_time, mask_phone=mask_phone, mask_name=mask_name,
                       mask_text=mask_text)
    env.globals.update(SATISFACTION=SATISFACTION_WORDS, REPLY_KINDS=REPLY_KINDS)
    return env


def render_html(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


class SafeFetcher(URLFetcher):
    """Serves ``hotline-asset:`` URLs from the asset folders; refuses everything else."""

    def __init__(self, roots: dict[str, Path]):
        super().__init__(allowed_protocols=set(), fail_on_errors=False)
        self.roots = roots
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if not url.startswith(ASSET_SCHEME):
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url[:80]!r}: documents only load the project's own assets")
        folder, _, name = url[len(ASSET_SCHEME):].lstrip("/").partition("/")
        root = self.roots.get(folder)
        path = (root / name).resolve() if root else None
        if root is None or path is None or root.resolve() not in path.parents or not path.is_file():
            self.refused.append(url)
            raise ValueError(f"unknown asset {url!r}")
        mime = {"otf": "font/otf", "css": "text/css"}.get(path.suffix[1:], "application/octet-stream")
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


def font_css(faces: dict) -> str:
    rules = {face.family: f'@font-face {{ font-family: "{face.family}"; src: url("{ASSET_SCHEME}fonts/{face.path.name}"); }}'
             for face in faces.values()}
    return "\n".join(rules.values())


def font_stacks(faces: dict) -> dict[str, Markup]:
    """``title_stack``, ``body_stack``…: each role's reduced face, then its full system face, then
    Noto Serif CJK SC for anything else."""
    return {f"{role}_stack": Markup(f'"{face.family}", "{face.fallback}", "Noto Serif CJK SC", serif')
            for role, face in faces.items()}


@lru_cache(maxsize=4)
def _stylesheet(fonts_dir: str):
    """The fonts and the document stylesheet, parsed once per process and reused by every render
    (re-reading two 2 MB font files and re-parsing the CSS per document costs more than the layout)."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    fetcher = SafeFetcher({"fonts": Path(fonts_dir), "static": TEMPLATES / "static"})
    faces = prepare(Path(fonts_dir))
    css_text = font_css(faces) + "\n" + environment().get_template("documents/style.css").render(**font_stacks(faces))
    return font_config, CSS(string=css_text, font_config=font_config, url_fetcher=fetcher, base_url=ASSET_SCHEME)


@lru_cache(maxsize=1)
def _user_agent_stylesheet():
    from weasyprint import CSS

    return CSS(filename=str(TEMPLATES / "documents" / "ua.css"))


class DocumentHTML(HTML):
    """WeasyPrint's HTML with the user-agent sheet cut to the elements our templates use
    (``templates/documents/ua.css``).  Should a WeasyPrint release rename this hook, the full
    sheet applies again: the same documents, only slower."""

    def _ua_stylesheets(self, forms=False):
        return [_user_agent_stylesheet()]


class _CharsUntilPatterns(dict):
    """The pattern cache of tinyhtml5's tokenizer, filled under the key it is looked up by.

    tinyhtml5 2.1's ``chars_until`` stores each compiled pattern with a chained assignment that
    rebinds ``characters`` to the pattern before the key is built, so the lookup never hits and
    every run of text rebuilds its pattern, which dominates the HTML parse of a long bulletin.
    The patterns built here are the ones its code builds (``[...]+``, or ``[^...]+`` for the
    characters to stop at); tests/test_documents.py parses with and without this cache."""

    def __missing__(self, key):
        characters, opposite = key
        ranges = "".join(f"\\x{ord(character):02x}" for character in characters)
        pattern = self[key] = re.compile(f"[{ranges}]+" if opposite else f"[^{ranges}]+")
        return pattern


@lru_cache(maxsize=1)
def _mend_parser_cache() -> None:
    from tinyhtml5 import inputstream

    if type(getattr(inputstream, "characters_until_regex", None)) is dict:
        inputstream.characters_until_regex = _CharsUntilPatterns()
    else:   # a tinyhtml5 other than requirements.lock's: documents still render, only slower
        logging.getLogger("hotline.rendering").warning(
            "tinyhtml5 %s has no characters_until_regex dict: the parser-cache mend is off (see requirements.lock)",
            getattr(inputstream, "__version__", "?"))


@lru_cache(maxsize=1)
def freeze_long_lived() -> None:
    """Once per process, after the first render's set-up (or the console's first page): move every
    object then alive (modules, templates, the fonts and the parsed stylesheet: about 100,000) to
    the collector's permanent generation.  Otherwise every full collection walks them all again
    after each document, work that grows with what is loaded and can outweigh rendering a page.  They stay freed by reference counting; only cycles
    among them would never be collected, a one-off cost."""
    gc.freeze()


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while WeasyPrint builds its box tree: the collector would walk
    the growing tree again and again (a quarter of a 12-page bulletin's time); the cycles left
    behind are collected at the next collection after the render."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render_layout(template: str, *, fonts_dir: Path, **context):
    """(WeasyPrint's laid-out document, URLs refused): the pages and their boxes, before the PDF,
    in the reduced faces prepared in FONTS_DIR (``Settings.fonts_dir``, the caller's).

    GB/T 9704: the 落款 is never alone on a page and the 版记 stands at the foot of the last page.
    The 落款 keeps with the text before it (CSS ``break-before: avoid``).  But when the 版记 (a
    footnote) does not fit under the 落款, WeasyPrint carries it alone to a page of its own.  Then
    the document is laid out again with the 版记's height reserved under the 落款, which therefore
    goes over to the next page with the last lines of the text, and the 版记 below it; should that not
    do, with the lines a little closer, as the standard allows (可以采取调整行距、字距的措施解决)."""
    document, refused = _layout(template, fonts_dir, **context)
    if _ends_apart(document):
        reserve = _banji_height(document)
        for step in (0, 1, 2):
            document, refused = _layout(template, fonts_dir, **dict(context, reserve=reserve, tighten=step))
            if not _ends_apart(document):
                break
    return document, refused


def _banji_height(document) -> float:
    """The height (pt) the 版记 takes at the foot of the last page, with its margin."""
    from weasyprint.formatting_structure import boxes

    areas = [b for b in document.pages[-1]._page_box.children if isinstance(b, boxes.FootnoteAreaBox)]
    return round(max((a.margin_height() for a in areas), default=0) * 0.75 + 2, 1)   # px → pt, and a little more


def _ends_apart(document) -> bool:
    """Whether the last page holds a 版记 or a 落款 and nothing of the text before it."""
    from weasyprint.formatting_structure import boxes

    last = document.pages[-1]._page_box
    flow = [b for child in last.children if not isinstance(child, (boxes.FootnoteAreaBox, boxes.MarginBox))
            for b in child.descendants()]
    closing = next((b for b in flow if getattr(b, "element", None) is not None
                    and "closing" in (b.element.get("class") or "").split() and not isinstance(b, boxes.LineBox)), None)
    before = flow[:flow.index(closing)] if closing is not None else flow
    return not any(isinstance(b, boxes.TextBox) and b.text.strip() for b in before)


def _layout(template: str, fonts_dir: Path, **context):
    html = render_html(template, **context)
    font_config, stylesheet = _stylesheet(str(fonts_dir))
    _mend_parser_cache()
    freeze_long_lived()
    fetcher = SafeFetcher({"fonts": fonts_dir, "static": TEMPLATES / "static"})
    with _gc_paused():
        document = DocumentHTML(string=html, base_url=ASSET_SCHEME, url_fetcher=fetcher).render(
            stylesheets=[stylesheet], font_config=font_config)
    if fetcher.refused:
        log.warning("document %s: refused %d URL(s)", template, len(fetcher.refused))
    return document, fetcher.refused


def render_pdf(template: str, *, fonts_dir: Path, **context) -> tuple[bytes, list[str]]:
    """(PDF bytes, URLs refused while rendering), in the faces prepared in FONTS_DIR."""
    document, refused = render_layout(template, fonts_dir=fonts_dir, **context)
    install_pdf_output()
    with _gc_paused():
        pdf = document.write_pdf()
    return _strip_volatile(pdf), refused


def _strip_volatile(pdf: bytes) -> bytes:
    """WeasyPrint writes the creation time; pin it so the same content gives the same bytes."""
    return re.sub(rb"/CreationDate \(D:[^)]*\)", b"/CreationDate (D:20000101000000Z)", pdf)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

