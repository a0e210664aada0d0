"""One masking rule for all text leaving the centre (issue 32): numbers in every shape a caller or an
IME writes them — full-width digits, dots, hyphens, full-width hyphens, double spaces, +86, 15- and
18-digit ID numbers spaced or not — e-mail addresses and the caller's own name, masked in 诉求内容,
return reasons and reply text wherever they go: every document kind, its spreadsheet and editable
copies, every e-mail, and every console page of a masked role."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from worker.rendering import mask_name, mask_phone, mask_text

WIDE = str.maketrans("0123456789+-()Xx", "０１２３４５６７８９＋－（）Ｘｘ")
SEPARATORS = ["", " ", "  ", "-", "－", ".", "‐", "—", "　", " - ", "．"]
DIGITS = "0123456789"


# Between two characters of a number as a reader finds it: separators, or a PDF's line break.
GAP = r"[\s\-.\u2010-\u2015\u2212_·\u30fb()]*"


def findable(chars: str) -> re.Pattern:
    """CHARS wherever they stand, with any separators between them, not inside a longer number."""
    return re.compile(r"(?<![0-9])" + GAP.join(re.escape(c) for c in chars) + r"(?![0-9])")


@dataclass(frozen=True)
class Secret:
    kind: str
    text: str       # as written in the complaint
    secret: str     # what must not leave: the digits (or the address, the name)
    masked: str     # what the reader sees instead

    def leaked(self, out: str) -> bool:
        out = unicodedata.normalize("NFKC", out)
        if self.kind == "email":
            return self.secret in re.sub(r"\s", "", out)   # a PDF may break a line anywhere
        return bool(findable(self.secret).search(out))

    def shown(self, out: str) -> bool:
        out = unicodedata.normalize("NFKC", out)
        if self.kind == "email":
            return self.masked in re.sub(r"\s", "", out)
        return bool(re.search(GAP.join(re.escape(c) for c in self.masked), out))


def cut(digits: str, sizes: tuple[int, ...]) -> list[str]:
    out, at = [], 0
    for n in sizes:
        out.append(digits[at:at + n])
        at += n
    return out + ([digits[at:]] if at < len(digits) else [])


@st.composite
def written(draw, digits: str, sizes: list[tuple[int, ...]], prefix: str = "") -> str:
    text = prefix + draw(st.sampled_from(SEPARATORS)).join(cut(digits, draw(st.sampled_from(sizes))))
    return text.translate(WIDE) if draw(st.booleans()) else text


@st.composite
def mobiles(draw) -> Secret:
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text(DIGITS, min_size=9, max_size=9))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86", "0086-", "+86-", "0"]))
    text = draw(written(digits, [(11,), (3, 4, 4), (3, 8), (7, 4), (4, 4, 3)], prefix))
    return Secret("mobile", text, digits, f"{digits[:3]}****{digits[-4:]}")


@st.composite
def landlines(draw) -> Secret:
    area = draw(st.sampled_from(["010", "021", "0535", "0755", "0871", "0311"]))
    local = draw(st.sampled_from("23456789")) + draw(st.text(DIGITS, min_size=6, max_size=7))
    shape = draw(st.sampled_from(["{a}-{l}", "({a}){l}", "{a}{s}{l}", "{a} {l1}{s}{l2}", "+86 {a0} {l}", "+86-{a0}-{l}"]))
    sep = draw(st.sampled_from(SEPARATORS))
    text = shape.format(a=area, a0=area[1:], l=local, s=sep, l1=local[:-4], l2=local[-4:])
    text = text.translate(WIDE) if draw(st.booleans()) else text
    return Secret("landline", text, local, f"{local[:-4]}****")


PROVINCES = ["11", "13", "31", "37", "44", "51", "65", "82"]


@st.composite
def id_numbers(draw) -> Secret:
    region = draw(st.sampled_from(PROVINCES)) + draw(st.text(DIGITS, min_size=4, max_size=4))
    born = draw(st.dates(min_value=__import__("datetime").date(1940, 1, 1),
                         max_value=__import__("datetime").date(2010, 12, 31)))
    if draw(st.booleans()):   # 18 digits, the last may be X
        digits = region + f"{born:%Y%m%d}" + draw(st.text(DIGITS, min_size=3, max_size=3)) + \
            draw(st.sampled_from(list(DIGITS) + ["X", "x"]))
        text = draw(written(digits, [(18,), (6, 8, 4), (6, 4, 4, 4), (3, 3, 4, 4, 4)]))
        return Secret("id18", text, digits[:-1], f"{digits[:6]}********{digits[-4:-1]}")
    digits = region + f"{born:%y%m%d}" + draw(st.text(DIGITS, min_size=3, max_size=3))
    text = draw(written(digits, [(15,), (6, 6, 3), (6, 9)]))
    return Secret("id15", text, digits, f"{digits[:6]}******{digits[-3:]}")


@st.composite
def emails(draw) -> Secret:
    local = draw(st.from_regex(r"[a-z][a-z0-9]{3,10}(?:[._][a-z0-9]{1,6})?", fullmatch=True))
    domain = draw(st.sampled_from(["qq.com", "163.com", "example.gov.cn", "mail.sd.cn"]))
    text = f"{local}@{domain}"
    return Secret("email", text.translate(WIDE) if draw(st.booleans()) else text, f"{local}@", f"{local[0]}***@{domain}")


GIVEN = "翠娟琴桂秀兰芳敏静丽强磊军洋勇艳杰涛明超霞平刚"
SURNAMES = ["欧阳", "司马", "诸葛", "上官", "东方", "皇甫"]


@st.composite
def names(draw) -> str:
    return draw(st.sampled_from(SURNAMES)) + draw(st.text(GIVEN, min_size=1, max_size=2))


NUMBERS = st.one_of(mobiles(), landlines(), id_numbers(), emails())
BEFORE = st.sampled_from(["", "请回电", "联系电话：", "本人电话 ", "身份证号", "邮箱：", "（", "来电人称"])
AFTER = st.sampled_from(["", "，谢谢。", "。", "）", "！请尽快处理", " 多次反映"])


@settings(max_examples=400, deadline=None)
@given(secret=NUMBERS, before=BEFORE, after=AFTER, name=names())
def test_every_shape_of_a_number_is_masked_and_the_text_around_it_kept(secret, before, after, name):
    text = f"{name}反映：{before}{secret.text}{after}"
    out = mask_text(text, name)
    assert not secret.leaked(out), (text, out)
    assert secret.shown(out), (text, out, secret.masked)
    assert name not in out and out.startswith(f"{mask_name(name)}反映：{before}")
    assert out.endswith(after)
    assert mask_text(out, name) == out            # masking a masked text changes nothing


@settings(max_examples=100, deadline=None)
@given(secret=st.one_of(mobiles(), landlines()))
def test_a_phone_field_is_masked_in_every_shape(secret):
    out = mask_phone(secret.text)
    assert not secret.leaked(out) and secret.shown(out), (secret.text, out)


@pytest.mark.parametrize("text", [
    "工单202611090000001于2026-11-09 10:00交办，2026年11月9日办结",
    "欠薪12345678元，面积3.5平方米，第(3)项，１０号楼",
    "（全角括号）、“引号”：冒号；分号！叹号？问号",
])
def test_what_is_not_a_number_of_a_person_is_left_as_written(text):
    assert mask_text(text, "张三") == text


# -- every document kind, e-mail and console page of a masked role ------------------------------------
@st.composite
def bundles(draw) -> list[Secret]:
    """One number of each shape, and an e-mail address: what a caller may write in one text."""
    return [draw(mobiles()), draw(landlines()), draw(id_numbers()), draw(emails())]


def complaint(name: str, bundle: list[Secret], lead: str) -> str:
    mobile, landline, id_number, email = (s.text for s in bundle)
    return f"{lead}，来电人{name}称：手机{mobile}，座机{landline}，身份证{id_number}，邮箱{email}，请回复{name}。"


# (job, --at): each document kind once or more, the windows chosen so the tickets below reach it.
JOBS = [("ticket_reports", "2026-11-11 10:00"), ("weekly_bulletin", "2026-11-12 10:00"),
        ("leader_digest", "2026-11-18 10:00"), ("escalation_weekly", "2026-11-18 10:00"),
        ("daily_sheet", "2026-11-13 16:00"), ("analysis_notice", "2026-11-16 16:00"),
        ("daily_sheet", "2026-11-17 10:00"), ("law_push", "2026-11-17 10:00"), ("supervision", "2026-11-17 10:00"),
        ("unit_daily", "2026-11-17 10:00"), ("supervision", "2026-11-20 10:00"),
        ("monthly_analysis", "2026-11-15 10:00"), ("monthly_summary", "2026-11-15 10:00"),
        ("monthly_law_report", "2026-11-15 10:00"), ("escalation_monthly", "2026-11-15 10:00")]


def build(history, name: str, texts: list[str]):
    """Tickets of 9-20 Nov 2026 whose 诉求内容, return reasons and reply text carry TEXTS."""
    content, reason, note, law, urgent = texts
    h = history
    phone = "13800000000"
    # A national ticket replied with its text (the per-ticket reports), its caller unsatisfied (a
    # negative typical case of the weekly bulletin).
    (h.ticket("202611090000001", "2026-11-09 09:00", source="national", name=name, phone=phone, content=content)
     .dispatch("2026-11-09 10:00", "D01").sign("2026-11-09 11:00", "D01").reply("2026-11-10 09:00", "D01", note=note)
     .review("2026-11-10 10:00").callback("2026-11-10 15:00", "unsatisfied", False))
    # A provincial enterprise ticket (its statement and form), a positive typical case.
    (h.ticket("202611090000002", "2026-11-09 09:00", source="enterprise_provincial", name=name, phone=phone,
              content=content)
     .dispatch("2026-11-09 10:00", "D22").sign("2026-11-09 10:30", "D22").reply("2026-11-09 16:00", "D22", note=note)
     .review("2026-11-09 17:00").callback("2026-11-10 09:00"))
    # A late return (the daily sheet of 13 Nov), its reason written by the unit.
    (h.ticket("202611110000003", "2026-11-11 09:00", name=name, phone=phone, content=content)
     .dispatch("2026-11-11 10:00", "D02").sign("2026-11-11 11:00", "D02").ret("2026-11-13 10:00", "D02", reason, "S01"))
    # Returned twice the same day (the analysis group's notice, the next daily sheet).
    (h.ticket("202611160000004", "2026-11-16 08:00", name=name, phone=phone, content=content, street="S04")
     .dispatch("2026-11-16 09:00", "D04").ret("2026-11-16 10:00", "D04", reason, "D05")
     .dispatch("2026-11-16 11:00", "D05").ret("2026-11-16 14:00", "D05", reason, "S04").dispatch("2026-11-16 15:00", "S01"))
    # A law-enforcement ticket never answered (the justice bureau's push and report, a 督办函).
    (h.ticket("202611160000005", "2026-11-16 09:00", category="200101", name=name, phone=phone, content=law)
     .dispatch("2026-11-16 10:00", "D03"))
    # 安全紧急, never answered: a 督办函 the next morning, the unit's daily list.
    (h.ticket("202611160000006", "2026-11-16 08:00", urgent="safety", name=name, phone=phone, content=urgent)
     .dispatch("2026-11-16 09:00", "D05"))
    return h.store()


def everything_sent(tmp_path) -> dict[str, str]:
    """The text of every document, e-mail (subject, bodies, attachment names and contents)."""
    from pypdf import PdfReader
    from sqlalchemy import select

    from tests.test_privacy import attachment_text
    from worker.db import session_scope
    from worker.mail import attachment_data
    from worker.models import Document, OutboxMessage

    texts = {}
    with session_scope() as s:
        for doc in s.scalars(select(Document)):
            texts[f"document {doc.kind} {doc.scope}"] = "".join(p.extract_text() for p in PdfReader(doc.path).pages)
        for m in s.scalars(select(OutboxMessage)):
            texts[f"mail {m.kind} {m.recipient_email}"] = "\n".join(
                [m.subject, m.body_text, m.body_html] + [a["name"] for a in m.attachments])
            for a in m.attachments:
                data = attachment_data(s, a["sha256"], [b["sha256"] for b in m.attachments])
                if a["name"].endswith(".pdf"):
                    import io
                    texts[f"mail {m.kind} {a['name']}"] = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
                else:
                    texts[f"mail {m.kind} {a['name']}"] = attachment_text(a["name"], data)
    return texts


def console_pages(numbers: list[str]) -> dict[str, str]:
    """Every page the console's operations role (every unit, callers masked) reads."""
    from datetime import datetime

    from starlette.testclient import TestClient

    from tests.test_web import OPS, PASSWORD, cli, login
    from worker.web.app import create_app

    assert cli("console-user", "add", OPS, "--operations", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    client = TestClient(create_app(secret="test-secret", clock=lambda: datetime(2026, 11, 20, 10, 0)),
                        base_url="https://testserver")
    login(client, OPS)
    paths = ["/today", "/units", "/documents", "/runs"] + [f"/tickets?kind={k}" for k in
                                                           ("open", "warning", "overdue", "returned_twice")]
    paths += [f"/units/{u}" for u in ("D01", "D02", "D03", "D04", "D05", "D22", "S01")]
    paths += [f"/tickets/{n}" for n in numbers]
    pages = {}
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        pages[f"console {path}"] = re.sub(r"<[^>]+>", " ", __import__("html").unescape(page.text))
    return pages


@settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],   # no shrinking:
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])   # minutes a try
@given(name=names(), secrets=st.lists(bundles(), min_size=5, max_size=5))
def test_no_number_leaves_the_centre_in_any_shape(tmp_path_factory, sqlite_template, monkeypatch, name, secrets):
    """Every shape of every kind of number, in each text a ticket carries, through every document
    kind, every e-mail and every console page of a masked role: none leaks, each is shown masked."""
    import shutil

    from tests.conftest import History, _clear_caches

    home = tmp_path_factory.mktemp("masking")
    with pytest.MonkeyPatch.context() as mp:     # a database of its own for each example, copied from the run's template
        (home / "var").mkdir()
        shutil.copyfile(sqlite_template, home / "var" / "hotline.db")
        mp.setenv("HOTLINE_VAR", str(home / "var"))
        mp.setenv("DATABASE_URL", f"sqlite:///{home / 'var' / 'hotline.db'}")
        _clear_caches()
        leads = ["反映小区路灯不亮", "不属于本单位职责", "已联系来电人说明情况", "景区门口乱罚款", "燃气泄漏"]
        build(History(), name, [complaint(name, b, lead) for b, lead in zip(secrets, leads)])
        from click.testing import CliRunner

        from worker.cli import main
        for job, at in JOBS:
            res = CliRunner().invoke(main, ["run", job, "--inline", "--at", at])
            assert res.exit_code == 0, (job, at, res.output)
        texts = everything_sent(home)
        texts.update(console_pages([f"20261109000000{i}" for i in (1, 2)] + ["202611110000003", "202611160000004",
                                                                            "202611160000005", "202611160000006"]))
        _clear_caches()
    kinds = {where.split()[1] for where in texts if where.startswith("document")}
    assert kinds >= {"ticket_national_report", "ticket_provincial_statement", "ticket_provincial_form", "weekly_bulletin", "leader_digest", "daily_sheet", "law_push",
                     "supervision_letter", "monthly_analysis", "monthly_summary", "monthly_law_report"}, kinds
    secret_list = [s for bundle in secrets for s in bundle]
    leaks = [(where, s.kind, s.text) for where, text in texts.items() for s in secret_list if s.leaked(text)]
    leaks += [(where, "name", name) for where, text in texts.items() if name in re.sub(r"\s", "", text)]
    assert leaks == [], leaks[:10]
    # Each text reached where it goes, masked: the test cannot pass by showing nothing.
    reached = {0: ["document ticket_national_report", "mail analysis_notice", "console /tickets/202611090000001"],
               # the late return's whole reason: in the daily sheet's complete lists (its PDF shows the start)
               1: ["mail daily_sheet 12345热线工单日调度（2026年11月13日）（完整清单）.xlsx", "mail analysis_notice",
                   "console /tickets/202611160000004"],
               2: ["document ticket_national_report", "mail ticket_report", "document ticket_provincial_form"],
               # the law push's PDF cuts a request at 40 characters; its XLSX (in the mail) carries it whole
               3: ["mail law_push 12345热线涉行政执法工单推送（2026年11月17日）.xlsx", "console /tickets/202611160000005"],
               4: ["document supervision_letter 2026-11-17:D05", "console /tickets/202611160000006"]}
    for i, places in reached.items():
        for place in places:
            assert any(all(s.shown(t) for s in secrets[i]) for w, t in texts.items() if w.startswith(place)), \
                (i, place, secrets[i])
    assert any(w.endswith(".xlsx") and all(s.shown(t) for s in secrets[3]) for w, t in texts.items())
    assert any(mask_name(name) in t for w, t in texts.items() if w.startswith("console /tickets/"))
