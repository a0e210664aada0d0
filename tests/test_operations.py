"""The operator's tools: doctor names each missing piece; replay previews a changed schedule."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, OutboxMessage, Run


def test_doctor_names_each_missing_piece(sqlite_db, tmp_path, monkeypatch):
    conf = tmp_path / "fonts.conf"
    conf.write_text("<?xml version='1.0'?><fontconfig></fontconfig>", encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "1")
    with session_scope() as s:
        from worker.models import Person
        head = s.scalars(select(Person).where(Person.role == "unit_head", Person.unit_code == "D07")).one()
        head.email = None
    res = CliRunner().invoke(main, ["doctor", "--today", "2026-11-21"])
    out = res.output
    assert res.exit_code == 1
    assert "[FAIL] redis" in out and "start Redis or fix REDIS_URL" in out
    assert "[FAIL] smtp" in out
    assert "[FAIL] CJK font Noto Serif CJK SC regular" in out and "apt-get install fonts-noto-cjk" in out
    assert "[FAIL] calendar: no holiday data for 2027" in out
    assert "unit D07 区人力资源和社会保障局: the unit head" in out and "has no e-mail address" in out
    assert "[ok  ] database" in out and "[ok  ] schedules" in out


def test_replay_previews_a_changed_schedule_and_keeps_nothing(sqlite_db, history, tmp_path):
    for i, day in enumerate(("2026-11-09", "2026-11-10", "2026-11-11")):
        (history.ticket(f"R{i}", f"{day} 08:00", phone=f"1380000000{i}").dispatch(f"{day} 09:00", "D20")
         .sign(f"{day} 10:00", "D20"))
    history.store()
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text("schedules:\n  - name: bulletin\n    actor: weekly_bulletin\n    cron: \"0 9 * * 1\"\n"
                       "    days: workdays\n    on_holiday: next_workday\n", encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(shipped.read_text(encoding="utf-8") +
                       "  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n    days: workdays\n",
                       encoding="utf-8")
    runner = CliRunner()
    a = runner.invoke(main, ["replay", "--from", "2026-11-09", "--to", "2026-11-17", "--schedules", str(shipped),
                             "--out", str(tmp_path / "a")])
    b = runner.invoke(main, ["replay", "--from", "2026-11-09", "--to", "2026-11-17", "--schedules", str(changed),
                             "--out", str(tmp_path / "b")])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert "weekly_bulletin         2" in a.output and "daily_sheet" not in a.output
    assert "daily_sheet             7" in b.output             # 9–17 Nov: seven working days
    assert len(list((tmp_path / "b" / "documents" / "daily_sheet").rglob("*.pdf"))) == 7
    assert len(list((tmp_path / "a" / "outbox").glob("*.eml"))) >= 2
    with session_scope() as s:                                   # preview only: nothing kept
        assert s.scalar(select(func.count()).select_from(Run)) == 0
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert (PROJECT_ROOT / "schedules.yaml").exists()


def test_replay_counts_what_it_produced_and_compares(sqlite_db, history, tmp_path):
    """Data already in the database (a week's messages) is not counted as the replay's."""
    for i, day in enumerate(("2026-11-09", "2026-11-10")):
        (history.ticket(f"R{i}", f"{day} 08:00", phone=f"1380000000{i}").dispatch(f"{day} 09:00", "D20")
         .sign(f"{day} 10:00", "D20"))
    history.store()
    assert CliRunner().invoke(main, ["run", "daily_sheet", "--inline", "--at", "2026-11-06 08:30"]).exit_code == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text("schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n"
                       "    days: workdays\n    recipients: [hotline_center]\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["replay", "--from", "2026-11-09", "--to", "2026-11-13", "--schedules", str(changed),
                                    "--compare", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "5 documents and 5 messages" in res.output                  # five sheets, one message each
    assert "  hotline_center       5" in res.output                      # not the message of 6 Nov
    assert "compared with the current schedules" in res.output
    import re
    lines = {m.group(1): m.group(2).split() for ln in res.output.splitlines()
             if (m := re.match(r"  ((?:runs of|messages to) \S+)\s+(\d+\s+\d+(?:\s+\(\S+\))?)$", ln))}
    assert lines["runs of daily_sheet"][-2:] == ["5", "5"]                 # the same sheets either way
    assert lines["runs of law_push"] == ["5", "0", "(-5)"]                 # the preview drops the push
    assert lines["messages to justice_bureau"] == ["5", "0", "(-5)"]
