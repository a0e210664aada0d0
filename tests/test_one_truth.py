"""One moment, one truth (DOMAIN.md "As of a moment", "One ladder per unit"): a document reads as of
its own moment, a past one rendered again reads as it did when issued, and the documents of one day
state the same tier for every unit."""
from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import insert, select

from tests.conftest import LADDER_UNITS, History
from worker.cli import main
from worker.db import session_scope
from worker.models import Document, DocumentVersion, Ticket, TicketEvent


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture
def clock(monkeypatch):
    import worker.jobs

    def set_to(text: str):
        monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime.fromisoformat(text))
    return set_to


def flat_text(path: str) -> str:
    return re.sub(r"\s", "", "".join(p.extract_text() for p in PdfReader(path).pages))


def ladder_history() -> History:
    """Mon 14 Sep to Sun 6 Dec 2026: D20's callers are never satisfied, the other six units' always.
    Week 44 (26 Oct - 1 Nov) also has tickets whose later events would change its figures: a redo and
    a second, satisfied callback in week 45, and a return after the week."""
    h, n, monday = History(), 0, date(2026, 9, 14)
    while monday <= date(2026, 11, 30):
        for unit in LADDER_UNITS:
            n += 1
            bad = unit == "D20"
            (h.ticket(f"M{n:04d}", f"{monday} 08:00", phone=f"1380001{n:04d}")
             .dispatch(f"{monday} 09:00", unit).sign(f"{monday} 10:00", unit).reply(f"{monday} 16:00", unit)
             .callback(f"{monday} 18:00", "unsatisfied" if bad else "satisfied", not bad))
        monday += timedelta(days=7)
    (h.ticket("R1", "2026-10-28 08:00").dispatch("2026-10-28 09:00", "D20").sign("2026-10-28 10:00", "D20")
     .reply("2026-10-28 16:00", "D20").callback("2026-10-29 10:00", "unsatisfied", False)
     .ev("redo", "2026-11-03 09:00", "C00").reply("2026-11-04 10:00", "D20").callback("2026-11-05 10:00"))
    (h.ticket("R2", "2026-10-29 08:00").dispatch("2026-10-29 09:00", "D02").sign("2026-10-29 10:00", "D02")
     .ret("2026-11-03 10:00", "D02", suggested="D03").dispatch("2026-11-03 11:00", "D03"))
    return h


def split(history: History, at: datetime) -> tuple[History, dict[str, list[dict]]]:
    """The history as known at ``at``, and the events that come after it."""
    early = copy.deepcopy(history)
    later = {}
    for number, events in history.events.items():
        early.events[number] = [e for e in events if e["at"] <= at]
        later[number] = [e for e in events if e["at"] > at]
    return early, later


def import_later(later: dict[str, list[dict]]) -> None:
    """The following weeks arrive: their events stored and the tickets derived again."""
    from worker.assignments import refresh
    from worker.calendar import load_calendar
    from worker.rules import load_rules

    with session_scope() as s:
        ids = dict(s.execute(select(Ticket.number, Ticket.id)).all())
        rows = [dict(ticket_id=ids[n], **e) for n, evs in later.items() for e in evs]
        s.execute(insert(TicketEvent), rows)
        refresh(s, sorted({r["ticket_id"] for r in rows}), load_calendar(), load_rules())


def test_a_bulletin_rendered_again_after_later_weeks_reads_as_it_was_issued(sqlite_db, clock):
    early, later = split(ladder_history(), datetime(2026, 11, 2, 7, 0))
    early.store()
    clock("2026-11-02 08:00")            # Mon 2 Nov: the ladder evaluates week 44 and October
    run("run", "escalation_weekly", "--inline", "--at", "2026-10-28 12:00")
    clock("2026-11-02 09:00")
    run("run", "weekly_bulletin", "--inline", "--at", "2026-10-28 12:00")
    with session_scope() as s:
        first = s.scalars(select(Document).where(Document.kind == "weekly_bulletin")).one()
        issued = flat_text(first.path)
    # As issued: D20 (区城市管理局) failing since 14 Sep, October failed: tier 3 in force since 2 Nov.
    assert "区城市管理局7周（自9月14日起）；1个月（自2026年10月起）区人大质询并公开曝光（2026年11月2日）" in issued

    import_later(later)                  # weeks 45-49 arrive; the ladder climbs on
    for monday in ("2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"):
        clock(f"{monday} 08:00")
        run("run", "escalation_weekly", "--inline", "--at", f"{date.fromisoformat(monday) - timedelta(days=3)} 12:00")
    clock("2026-12-01 08:30")
    run("run", "escalation_monthly", "--inline", "--at", "2026-11-15 12:00")   # November: tier 4
    clock("2026-12-21 09:00")
    assert "区城市管理局" in run("escalation", "list").output
    run("run", "weekly_bulletin", "--inline", "--at", "2026-10-28 12:00")      # week 44 again
    with session_scope() as s:
        again = s.scalars(select(Document).where(Document.kind == "weekly_bulletin")).one()
        versions = s.scalars(select(DocumentVersion.version).where(DocumentVersion.document_id == again.id)).all()
        text = flat_text(again.path)
    assert text == issued and versions == [1]
    assert "作出说明（2026年12月1日）" not in text      # tier 4, issued a month later, is only the next step


def stated_tiers(text: str, names: dict[str, str], labels: list[str]) -> dict[str, str]:
    """The tier in force a document states for each unit it names on the ladder: the label printed
    with the day it was issued, 「区人大质询并公开曝光（2026年11月2日）」, before the next unit's name."""
    found = sorted((m.start(), code) for code, name in names.items() for m in re.finditer(re.escape(name), text))
    out: dict[str, str | None] = {}
    for (start, code), (end, _next) in zip(found, [*found[1:], (len(text), None)], strict=True):
        m = re.search(f"({'|'.join(map(re.escape, labels))})（(\\d{{4}}年\\d+月\\d+日)）", text[start:end])
        if out.get(code) is None:
            out[code] = f"{m.group(1)}（{m.group(2)}）" if m else None
    return out


def test_the_documents_of_one_day_state_the_same_tier_for_every_unit(sqlite_db, tmp_path):
    """Replayed over two evaluation days — Mon 2 Nov (week 44 and October together) and Mon 9 Nov —
    the weekly bulletin's ladder table, every leader's digest and ``hotline escalation list`` state
    the same tier for each unit; and the monthly analysis and 月总结 of October name the units its
    tier 3 reached, as the bulletin does."""
    from worker.escalation import tier_label, tiers

    ladder_history().store()
    run("replay", "--from", "2026-11-02", "--to", "2026-11-09", "--send", "--out", str(tmp_path / "replay"))
    labels = [tier_label(t) for t in tiers()]
    with session_scope() as s:
        from worker.vocabulary import unit_names
        names = {c: n for c, n in unit_names(s).items() if c in LADDER_UNITS}
        docs = s.scalars(select(Document).where(Document.kind.in_(["weekly_bulletin", "leader_digest"]))).all()
        by_day: dict[date, list[tuple[str, dict]]] = {}
        for d in docs:
            text = flat_text(d.path)
            if d.kind == "weekly_bulletin":
                text = text[text.index("连续未达标单位及所处问责层级"):text.index("四、挂牌督办")]
            by_day.setdefault(d.issued_on, []).append((d.kind, stated_tiers(text, names, labels)))
    assert sorted(by_day) == [date(2026, 11, 2), date(2026, 11, 9)]
    checked = []
    for day, statements in sorted(by_day.items()):
        listed = run("escalation", "list", "--at", f"{day} 23:00").output
        cli = stated_tiers(re.sub(r"\s", "", listed), names, labels)
        assert cli, listed
        cli = {c: t for c, t in cli.items() if t}
        for kind, stated in statements:   # every unit a document names: the tier the ledger has, or none
            assert {c: t for c, t in stated.items() if t} == {c: t for c, t in cli.items() if c in stated}, (day, kind)
            if kind == "weekly_bulletin":
                assert set(cli) <= set(stated), (day, cli, stated)
        checked.append((day, cli))
    assert checked == [(date(2026, 11, 2), {"D20": "区人大质询并公开曝光（2026年11月2日）"}),
                       (date(2026, 11, 9), {"D20": "区人大质询并公开曝光（2026年11月2日）"})]
    # D20 failed October: tier 3 on 2 Nov; its weekly run's tier was superseded that day, not issued.
    ledger = run("escalation", "list", "--all", "--at", "2026-11-09 23:00").output
    assert ledger.splitlines()[:2] == ["2026-11-02 08:00  区城市管理局  区人大质询并公开曝光  已发出  (2026年10月)",
                                       ("2026-11-02 08:00  区城市管理局  区政府主要领导约谈单位主要负责同志  已在更高层级  "
                                        "(2026年10月26日至11月1日)")]
    with session_scope() as s:
        analysis = flat_text(s.scalars(select(Document.path).where(Document.kind == "monthly_analysis")).one())
        summary = flat_text(s.scalars(select(Document.path).where(Document.kind == "monthly_summary")).one())
    assert "区城市管理局连续一个月“双率”未达到区级要求，已提请区人大" in analysis
    assert "区城市管理局区人大质询并公开曝光" in summary
