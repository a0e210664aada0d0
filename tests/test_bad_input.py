"""The bad-input corpus: every file is refused clearly, names itself, and changes nothing stored."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Ticket, TicketEvent

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.name != "README.md")


def counts():
    with session_scope() as s:
        return (s.scalar(select(func.count()).select_from(Ticket)),
                s.scalar(select(func.count()).select_from(TicketEvent)))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file_is_refused_cleanly(sqlite_db, path, figures):
    assert CliRunner().invoke(main, ["import", str(PROJECT_ROOT / "db" / "seed" / "sample-export.csv")]).exit_code == 0
    before = counts()
    figures("bad inputs tried")
    res = CliRunner().invoke(main, ["import", str(path)])
    assert res.exit_code == 1, res.output
    assert path.name in res.output
    assert "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit), res.exception   # refused by the command, not by a crash
    assert counts() == before
    figures("bad inputs refused cleanly")


def test_directory_with_line_breaks_in_names_is_refused_whole(sqlite_db, tmp_path, figures):
    bad = tmp_path / "district.yaml"
    bad.write_text("units:\n  - {code: X1, name: 新单位, kind: department}\npeople:\n"
                   "  - {name: \"王五\\r\\nBcc: evil@example.com\", email: a@example.gov.cn, role: unit_head, unit: X1}\n",
                   encoding="utf-8")
    figures("bad inputs tried")
    res = CliRunner().invoke(main, ["directory", "load", str(bad)])
    assert res.exit_code == 1 and "people[1]: the name contains a line break" in res.output
    assert "nothing was changed" in res.output
    with session_scope() as s:
        from worker.models import Unit
        assert s.scalar(select(Unit.id).where(Unit.code == "X1")) is None
    figures("bad inputs refused cleanly")
