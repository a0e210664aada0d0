"""What the daily law-enforcement push (涉行政执法工单推送, seeds 000, 002, 003) says at its moment.

The push goes to the justice bureau every working day: the tickets of the selected 事项编码
dispatched, replied or called back since the previous push, each saying what changed.  Its XLSX
(the data the bureau loads into its own system) carries every one of them.  The PDF is read by
people, so it stays a few pages at any size of the district — 79 pages for the 588 tickets of one
day of a 200 k-ticket year: it gives the counts of every unit and lists at most
``law_push.listed_tickets`` (config/documents.yaml), the most serious first — the tourism
clues by their colour (红、橙、黄), then the overdue, the tickets graded 敏感 or 重大 (the daily
sheet's levels), the callbacks found unresolved or unsatisfied, the new dispatches, then the rest —
and says where the others are.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .assignments import SATISFIED
from .calendar import WorkCalendar
from .config import policy
from .detection import law_enforcement, repeat_rule, repeated_places
from .models import Category
from .rendering import public_ticket
from .triage import triage

NEW, REPLIED, CALLED_BACK = "新交办", "已答复", "已回访"
OVERDUE = "已超期"


def listed_tickets(config_dir: Path | None = None) -> int:
    """How many tickets the PDF lists (``law_push.listed_tickets``)."""
    return policy.documents(config_dir).law_push.listed_tickets


def push_rows(s: Session, since: datetime, as_of: datetime, names: dict[str, str], cal: WorkCalendar,
              config_dir: Path | None = None) -> list[dict]:
    """Every ticket of the push in the XLSX's order (事项编码, 工单编号), each with what changed since
    ``since`` (``change``), its state at ``as_of`` (``status``) and its tourism clue level."""
    categories = dict(s.execute(select(Category.code, Category.name)).all())
    cfg = policy.metrics(config_dir)
    tourism_cfg = cfg.tourism_triage
    tourism_codes = set(s.scalars(select(Category.code).where(Category.tourism.is_(True))))
    places = {(r["address"], r["category_code"]) for r in repeated_places(
        s, as_of, *repeat_rule(cfg.repeat, "same_address_category"))} if tourism_cfg else set()
    rows = []
    within = lambda t: t is not None and since <= t < as_of
    for t in law_enforcement(s, since, as_of):
        level = triage(t, tourism_cfg, tourism_codes, cal.holidays, places)
        row = public_ticket(t, names)
        row["category_name"] = categories.get(t["category_code"], t["category_code"])
        row["triage"], row["triage_level"] = (level.text, level.level) if level else ("—", "")
        finished = t["finished_at"] is not None and t["finished_at"] <= as_of
        row["status"] = REPLIED if finished else (OVERDUE if t["completion_due"] < as_of else "办理中")
        row["change"] = NEW if within(t["dispatched_at"]) else (CALLED_BACK if within(t["callback_at"]) else REPLIED)
        if t["callback_at"] is None or t["callback_at"] > as_of:
            row["satisfaction"], row["resolved"] = None, None
        rows.append(row)
    return rows


def dissatisfied(row: dict) -> bool:
    """A callback found the matter unresolved or the caller not satisfied."""
    return row.get("resolved") is False or (row.get("satisfaction") is not None and row["satisfaction"] not in SATISFIED)


def serious_first(rows: list[dict], clue_levels: Sequence[str], grades: Sequence[str]) -> list[dict]:
    """The rows in the order the PDF lists them: tourism clues by level (``clue_levels``, most serious
    first), the overdue, the tickets of the serious ``grades`` (in their order), the dissatisfied
    callbacks, the new dispatches, then the rest; within each, the XLSX's order."""
    clue_rank = {level: i for i, level in enumerate(clue_levels)}
    grade_rank = {level: i for i, level in enumerate(grades)}

    def key(pair: tuple[int, dict]):
        i, r = pair
        return (clue_rank.get(r["triage_level"], len(clue_rank)), r["status"] != OVERDUE,
                grade_rank.get(r.get("severity") or "", len(grade_rank)), not dissatisfied(r), r["change"] != NEW, i)
    return [r for _, r in sorted(enumerate(rows), key=key)]


def unit_counts(rows: list[dict]) -> list[dict]:
    """Per unit: its tickets in the push by what brought them (new, replied, called back), and among
    them the overdue and the dissatisfied — every unit of the push, the most tickets first, then in
    the directory's order (unit codes)."""
    units: dict[str, tuple[str, Counter]] = {}
    for r in rows:
        _name, c = units.setdefault(r["unit_code"], (r["unit_name"], Counter()))
        c.update(total=1, new=r["change"] == NEW, replied=r["change"] == REPLIED,
                 called_back=r["change"] == CALLED_BACK, overdue=r["status"] == OVERDUE, dissatisfied=dissatisfied(r))
    ordered = sorted(units.items(), key=lambda kv: (-kv[1][1]["total"], kv[0]))
    return [{"name": name, **{k: c[k] for k in COUNTS}} for _code, (name, c) in ordered]


COUNTS = ("total", "new", "replied", "called_back", "overdue", "dissatisfied")


def totals(units: list[dict]) -> dict[str, int]:
    return {k: sum(u[k] for u in units) for k in COUNTS}
