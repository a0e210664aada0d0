"""Documents as official documents (GB/T 9704, seed 004): who speaks, what is decided or submitted,
when and where, the number and the date, the 版记 — read from the PDFs and the messages."""
from __future__ import annotations

import email
import io
import re
from datetime import date, datetime
from email import policy as email_policy

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import pdf_pages
from worker.cli import main
from worker.db import session_scope
from worker.models import Document, OutboxMessage

GOV = "莱山区人民政府办公室"
CENTRE = "莱山区89000民生服务中心"


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def flat(text: str) -> str:
    return re.sub(r"\s", "", text)


def doc_text(kind: str, scope_like: str = "") -> str:
    with session_scope() as s:
        doc = s.scalars(select(Document).where(Document.kind == kind, Document.scope.contains(scope_like))
                        .order_by(Document.id.desc())).first()
    return flat("".join(p.extract_text() for p in PdfReader(doc.path).pages))


def messages(kind: str) -> list[OutboxMessage]:
    with session_scope() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)).all()


@pytest.fixture
def clock(monkeypatch):
    """The moment a person starts ``hotline run`` (a periodic document is dated the day it is issued)."""
    import worker.jobs

    def set_to(text: str):
        monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime.fromisoformat(text))
    return set_to


def by_role(kind: str) -> dict[str, str]:
    """The body of each recipient role's message of a kind."""
    return {m.recipient_role: m.body_text for m in messages(kind)}


def test_tier_three_is_submitted_to_the_congress_with_exposure(failing_every_week, clock):
    clock("2026-11-02 08:30")                                   # Monday, a working day
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    # The 提请: the government office submits to the people's congress standing committee (主送).
    asked = doc_text("submission", "peoples_congress")
    assert asked.startswith(GOV) and "莱政办提〔2026〕1号" in asked
    assert "关于提请对区城市管理局主要负责同志进行质询的函区人大常委会：" in asked
    assert ("现提请区人大常委会对该单位主要负责同志进行质询。同时，区政府在区政府作风展示台上对该单位进行公开曝光，"
            "由其在区级媒体公开亮相、解疑释惑。请予研究安排。") in asked
    # The unit's own notice says what was submitted, citing the 提请, copied to the body asked.
    text = doc_text("interview_notice", "peoples_congress")
    assert text.startswith(GOV) and "莱政办约〔2026〕1号" in text
    assert "关于提请区人大常委会对区城市管理局主要负责同志进行质询并公开曝光的通知区城市管理局：" in text
    assert "区政府办公室已提请区人大常委会对你单位主要负责同志进行质询（莱政办提〔2026〕1号）。同时，在区政府作风展示台上" in text
    assert "决定由" not in text
    # Written material due three working days after Mon 2 Nov: Thu 5 Nov, to the centre's office.
    assert "于2026年11月5日前形成书面材料报莱山区89000民生服务中心督办科（联系人：王敏，电话：0535-6213451）" in text
    # 落款, 附注 (the centre is the contact), then the 版记: 抄送 and the printer with the date.
    signature = text.rindex("莱山区人民政府办公室2026年11月2日（联系单位：莱山区89000民生服务中心督办科")
    assert text.index("抄送：莱山区89000民生服务中心，区人大常委会。", signature)
    assert text.index("莱山区人民政府办公室2026年11月2日印发", signature)
    # Each recipient's e-mail in its own words: the congress receives the 提请, the unit acts, leaders are informed.
    (congress,) = messages("submission")
    assert congress.recipient_role == "peoples_congress" and "现提请区人大常委会对该单位主要负责同志进行质询" in \
        congress.body_text and "请予研究安排" in congress.body_text and "书面材料" not in congress.body_text
    bodies = by_role("interview_notice")
    assert set(bodies) == {"unit_head", "leader_in_charge", "principal_leader", "hotline_center"}
    assert "你单位连续1个月" in bodies["unit_head"] and "书面材料：请于2026年11月5日前" in bodies["unit_head"]
    for leader in ("leader_in_charge", "principal_leader"):
        assert "呈请阅知" in bodies[leader] and "书面材料：请于" not in bodies[leader]
        assert "区政府办公室已提请区人大常委会对区城市管理局主要负责同志进行质询" in bodies[leader]
    assert "曹春生副区长：" in bodies["leader_in_charge"]


def test_tier_four_the_unit_head_explains_at_the_meetings(failing_every_week, clock):
    clock("2026-11-02 08:30")
    run("run", "escalation_monthly", "--inline", "--at", "2026-10-15 10:00")
    clock("2026-12-01 08:30")
    run("run", "escalation_monthly", "--inline", "--at", "2026-11-15 10:00")
    asked = doc_text("submission", "standing_committee")
    assert "莱政办提〔2026〕2号" in asked and "的请示区委、区政府：" in asked
    assert "关于提请在区委常委扩大会议、区政府常务会议上听取区城市管理局主要负责同志说明的请示" in asked
    # Tier 4 cites the tier-3 notice it follows: its date and 发文字号.
    cited = "（见2026年11月2日《关于提请区人大常委会对区城市管理局主要负责同志进行质询并公开曝光的通知》，莱政办约〔2026〕1号）"
    assert f"鉴于该单位经区人大常委会质询后仍未整改到位{cited}，现提请区委、区政府，在区委常委扩大会议、区政府常务会议上" \
           "听取该单位主要负责同志作出说明。妥否，请批示。" in asked
    text = doc_text("interview_notice", "standing_committee")
    assert "关于区城市管理局主要负责同志在区委常委扩大会议、区政府常务会议上作出说明的通知区城市管理局：" in text
    assert f"鉴于你单位经区人大常委会质询后仍未整改到位{cited}，区政府办公室已提请区委、区政府（莱政办提〔2026〕2号），" \
           "由你单位主要负责同志在区委常委扩大会议、区政府常务会议上作出说明。" in text
    assert "莱政办约〔2026〕2号" in text          # numbered per kind and year, after tier 3's
    assert "关于提请区住房" not in text and "提请区城市管理局" not in text    # the unit is never the one that 提请
    asked_of = {m.recipient_role for m in messages("submission") if "请示" in m.body_text}
    assert asked_of == {"district_committee", "principal_leader"}


def test_interview_notice_says_when_where_with_whom(failing_every_week, clock):
    clock("2026-10-09 08:00")        # Friday after 国庆: the week of 28 Sep - 4 Oct is evaluated
    run("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00")
    text = doc_text("interview_notice", "principal_leader")
    # Three working days after Fri 9 Oct: Sat 10 Oct (a make-up working day), Mon 12, Tue 13 Oct.
    assert "一、约谈时间：2026年10月13日09:30。" in text and "二、约谈地点：区政府第一会议室。" in text
    assert "决定由区长董海燕同志约谈你单位主要负责同志。" in text      # the directory's principal leader
    assert "三、约谈人：区长董海燕同志" in text and "区级分管领导" not in text
    assert "于2026年10月12日前形成书面材料报" in text    # two working days after the notice
    bodies = by_role("interview_notice")
    assert "约谈时间：2026年10月13日09:30；地点：区政府第一会议室；约谈人：区长董海燕同志。" in bodies["unit_head"]
    assert "书面材料：请于2026年10月12日前报莱山区89000民生服务中心督办科（联系人：王敏，电话：0535-6213451）。" \
        in bodies["unit_head"]
    # The interviewer is asked to hold it; the leader in charge is informed.
    assert "拟请您于2026年10月13日09:30在区政府第一会议室约谈区城市管理局主要负责同志" in bodies["principal_leader"]
    assert "呈请阅知" in bodies["leader_in_charge"] and "书面材料：请于" not in bodies["leader_in_charge"]


def test_tier_one_names_the_leader_overseeing_the_unit(failing_every_week, clock):
    clock("2026-09-30 08:00")
    run("run", "escalation_weekly", "--inline", "--at", "2026-09-23 10:00")
    text = doc_text("interview_notice", "leader_in_charge")
    assert "决定由副区长曹春生同志约谈你单位主要负责同志。" in text and "三、约谈人：副区长曹春生同志；" in text


def test_one_voice_per_message(failing_every_week, clock, tmp_path):
    """The PDF's issuer, the e-mail's sender name and its signature are the same body, per kind."""
    clock("2026-10-09 08:00")
    run("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00")
    run("run", "supervision", "--inline", "--at", "2026-09-30 10:00")
    run("outbox", "send")
    from worker.config import load_settings
    seen = set()
    for eml in load_settings().outbox_dir.glob("*.eml"):
        msg = email.message_from_bytes(eml.read_bytes(), policy=email_policy.default)
        kind = "interview_notice" if "约谈" in str(msg["Subject"]) else "supervision_letter"
        voice = GOV      # seed 004: the government office holds interviews and 挂牌督办 (the centre drafts)
        assert msg["From"].addresses[0].display_name == voice, kind
        body = msg.get_body(("plain",)).get_content()
        assert f"\n{voice}\n" in body and CENTRE not in body.split("附件")[-1]
        pdf = next(msg.iter_attachments())
        first = PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text().splitlines()[0]
        assert first == voice
        seen.add(kind)
    assert seen == {"interview_notice", "supervision_letter"}


def test_document_numbers_per_kind_and_year_kept_on_rerender(failing_every_week, clock):
    clock("2026-10-09 08:00")
    run("run", "supervision", "--inline", "--at", "2026-09-29 10:00")
    run("run", "supervision", "--inline", "--at", "2026-09-30 10:00")
    with session_scope() as s:
        docs = s.scalars(select(Document).where(Document.kind == "supervision_letter").order_by(Document.id)).all()
        numbers = [(d.scope, d.doc_year, d.doc_no) for d in docs]
    assert [n[1:] for n in numbers] == [(2026, i) for i in range(1, len(numbers) + 1)]
    first_scope = numbers[0][0]
    letter = doc_text("supervision_letter", first_scope)
    assert letter.startswith(GOV) and "莱政办督〔2026〕1号" in letter and "现予挂牌督办，实行销号管理" in letter
    assert "经莱山区89000民生服务中心审核后逐件销号" in letter and "（联系单位：莱山区89000民生服务中心督办科" in letter
    run("run", "supervision", "--inline", "--at", "2026-09-29 10:00")      # rendered again: same number
    with session_scope() as s:
        again = s.scalars(select(Document).where(Document.scope == first_scope)).one()
        assert (again.doc_year, again.doc_no, again.issued_on) == (2026, 1, date(2026, 9, 29))


def test_a_document_is_dated_the_working_day_it_is_issued(failing_every_week, clock):
    # The bulletin of 21-27 Sep started on Friday 9 Oct (a working day): dated 9 Oct, not 21 Sep.
    clock("2026-10-09 15:00")
    run("run", "weekly_bulletin", "--inline", "--at", "2026-09-23 10:00")
    text = doc_text("weekly_bulletin")
    assert "2026年9月21日至9月27日" in text and text.count("2026年10月9日") >= 2 and "2026年9月21日莱" not in text
    assert "莱热线通〔2026〕1号" in text
    # The quarterly report started on Sunday 1 Nov is dated Monday 2 Nov.
    clock("2026-11-01 10:00")
    run("run", "quarterly_report", "--inline", "--at", "2026-09-15 10:00")
    assert "2026年11月2日" in doc_text("quarterly_report") and "2026年11月1日" not in doc_text("quarterly_report")
    # Rendered again weeks later: the date and the numbers first given.
    clock("2026-11-20 15:00")
    run("run", "weekly_bulletin", "--inline", "--at", "2026-09-23 10:00")
    text = doc_text("weekly_bulletin")
    assert "2026年10月9日" in text and "2026年11月20日" not in text and "第1期" in text


def test_escalation_and_monthly_jobs_fire_on_working_days_only():
    from worker.calendar import load_calendar
    from worker.config import load_settings
    from worker.schedules import load, slots

    cfg, cal = load(load_settings().schedules_file), load_calendar()
    checked = 0
    for sched in cfg.schedules:
        if sched.actor in ("send_outbox", "process_inbox"):
            continue
        for slot in slots(sched, cfg.timezone, cal, datetime(2026, 1, 1), datetime(2026, 12, 31)):
            if slot.effective_at is not None:
                assert cal.is_workday(slot.effective_at.date()), (sched.name, slot.effective_at)
                checked += 1
    assert checked > 300


def test_banji_sits_at_the_foot_of_the_last_page(failing_every_week, clock):
    """The 版记 is laid out in the page's bottom area, below the body, on the document's last page."""
    from weasyprint.formatting_structure import boxes

    from worker import documents, rendering

    clock("2026-10-09 08:00")
    layouts = []
    render_pdf = rendering.render_pdf

    def keep(template, **context):
        layouts.append(rendering.render_layout(template, **context)[0])
        return render_pdf(template, **context)

    import pytest as _pytest
    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(documents, "render_pdf", keep)
        run("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00")
    (layout,) = layouts
    last = layout.pages[-1]._page_box
    areas = [b for b in last.children if isinstance(b, boxes.FootnoteAreaBox)]
    assert areas and areas[0].children, "no 版记 at the foot of the last page"
    page_height = last.margin_height()
    assert areas[0].position_y > 0.75 * page_height


def test_monthly_chart_leaves_months_without_data_as_gaps():
    from worker.rendering import line_chart

    svg = str(line_chart(["5月", "6月", "7月", "8月", "9月", "10月"], {"受理量（件）": [None, None, None, 420, 1050, 980]}))
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3 and svg.count("<circle") == 3           # August to October only
    assert ">0<" in svg and ">500<" in svg and ">1500<" in svg       # a y-axis scale from 0
    assert ">420<" in svg and ">1050<" in svg


def test_no_na_in_any_document_of_a_demo(demo):
    """Over a short demo: no "n/a"; every document names the district; every page is numbered 「— N —」;
    every sheet, push, bulletin and analysis names its recipients (报/送/发 in the 版记); every per-ticket
    report is a draft with the seed's signature and seal blocks, its DOCX A4 with page numbers."""
    from docx import Document as Docx
    from docx.shared import Mm

    out, _ = demo     # the run's shared demo (tests/conftest.py)
    pdfs = list((out / "documents").rglob("*.pdf"))
    assert len(pdfs) > 20
    kinds = set()
    for pdf in pdfs:
        kind = pdf.parts[-3]
        kinds.add(kind)
        pages = pdf_pages(pdf)
        text = "".join(pages)
        assert "n/a" not in text and "N/A" not in text, pdf
        assert "0/0" not in text, pdf                               # —（无数据）, never 0/0
        for number, page in enumerate(pages, 1):
            assert page.rstrip().endswith(f"— {number} —"), (pdf, number)
        if kind.startswith("ticket_"):
            assert text.startswith("代拟稿") and "莱山区人民政府" in flat(text), pdf
            if kind != "ticket_provincial_form":
                assert "（盖章）" in text and "（签字）：" in text, pdf
            docx = Docx(pdf.with_suffix(".docx"))
            section = docx.sections[0]
            assert (round(section.page_width / Mm(1)), round(section.page_height / Mm(1))) == (210, 297), pdf
            assert 'w:instr="PAGE"' in section.footer._element.xml, pdf
        else:
            assert text.startswith("莱山区"), pdf                     # the district is named
        if kind in ("daily_sheet", "law_push", "weekly_bulletin", "monthly_analysis", "monthly_summary"):
            assert re.search(r"(报|送|发)：", flat(pages[-1])), pdf
    assert {"ticket_national_report", "ticket_provincial_statement", "weekly_bulletin", "law_push"} <= kinds
