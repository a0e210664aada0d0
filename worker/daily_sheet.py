"""What the centre's daily sheet (日调度) says at its moment, and the complete lists beside it.

The sheet is read by people: it must stay a few pages however large the district grows (76 pages
for two months of a 400-a-day district, 700 at 2 M tickets, for lists nobody reads to the end).
So the PDF carries the counts of every unit and, of each kind of serious case — new 敏感/重大
tickets, the tickets overdue longest, those newly sent to the analysis group, the late returns —
the first ``daily_sheet.serious_cases`` (config/documents.yaml), most serious first.  Every ticket
of every list — each overdue and warned ticket too — is in the XLSX that goes with it in the same
message and is archived beside the PDF (a companion of its version).  Everything is read as of
the sheet's moment (``worker.asof``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from .asof import view
from .config import policy
from .detection import (
    counts_by_unit,
    fell_due_between,
    graded_new,
    late_returns,
    overdue_open,
    returned_twice,
    warnings,
)
from .rendering import public_ticket, return_link
from .spreadsheets import workbook


def serious_cases() -> int:
    """How many of each kind of serious case the PDF lists (``daily_sheet.serious_cases``)."""
    return policy.documents().daily_sheet.serious_cases


def duration_text(span) -> str:
    """How long, in the words a sheet uses: 5小时20分钟, 2天3小时 (whole minutes; a window ends at
    23:59:59, so its last second is not counted as a minute late)."""
    minutes = max(1, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{minutes}分钟"


@dataclass
class Sheet:
    """The sheet's content at ``as_of``: the counts, and each list complete (``lists``, for the XLSX)."""
    as_of: datetime
    unit_rows: list[dict]
    totals: dict
    lists: dict[str, list[dict]] = field(default_factory=dict)

    def first(self, name: str, n: int) -> list[dict]:
        return self.lists[name][:n]


def gather(session: Session, as_of: datetime, since: datetime, horizon: datetime, names: dict[str, str],
           levels: list[str]) -> Sheet:
    """The counts per unit (new since ``since``, open, warned up to ``horizon``, overdue, returned
    twice) and the lists, each in the order the sheet shows its first rows: the graded tickets
    highest level first; the overdue ones longest overdue first (by the clock each missed), with
    whether it fell due since the last sheet; the warned by the clock due next; the analysis
    group's new entries and the late returns oldest first."""
    counts, totals = counts_by_unit(session, as_of, since, horizon)
    unit_rows = sorted(({"code": c, "name": names.get(c, c), **v} for c, v in counts.items() if any(v.values())),
                       key=lambda r: (-r["overdue"], -r["warning"], r["code"]))
    fresh = {t["ticket_id"] for t in overdue_open(session, as_of, fell_due_between(view(session, as_of).A, since, as_of))}
    overdue = []
    for t in sorted(overdue_open(session, as_of), key=lambda t: (t["clock_due"], t["number"])):
        row = public_ticket(t, names)
        row.update(overdue_by=duration_text(as_of - t["clock_due"]), fresh=t["ticket_id"] in fresh,
                   fresh_text="是" if t["ticket_id"] in fresh else "")
        overdue.append(row)
    twice = []
    for t in returned_twice(session, as_of, since):   # earlier ones were listed on an earlier sheet
        row = public_ticket(t, names)
        row["chain"] = [return_link(c, names, t.get("caller_name")) for c in t["chain"]]
        row["chain_text"] = "\n".join(f"{i}. {c}" for i, c in enumerate(row["chain"], 1))
        row["fallback_name"] = names.get(t["fallback_unit_code"], t["fallback_unit_code"])
        twice.append(row)
    late = []
    for t in late_returns(session, since, as_of):
        row = public_ticket(t, names)
        row["late_by_text"] = duration_text(t["late_by"])
        late.append(row)
    return Sheet(as_of, unit_rows, totals, {
        "graded": [public_ticket(t, names) for t in graded_new(session, since, as_of, levels)],
        "overdue": overdue, "warnings": [public_ticket(t, names) for t in warnings(session, as_of, horizon)],
        "returned_twice": twice, "late_returns": late})


# The XLSX: one sheet per list, the counts first.  (header, key, width)
_TICKET = [("工单编号", "number", 18), ("承办单位", "unit_name", 18)]
_CALLER = [("诉求内容", "content", 60), ("来电人", "caller_name", 8), ("联系电话", "caller_phone", 14)]
SHEETS = [
    ("units", "各承办单位办理情况", [("承办单位", "name", 24), ("新交办", "new", 8), ("在办", "open", 8),
                                 ("预警", "warning", 8), ("超期", "overdue", 8), ("回退≥2次", "returned_twice", 9)]),
    ("graded", "新增敏感重大事项", [("工单编号", "number", 18), ("受理时间", "received_at", 17), ("等级", "severity", 6),
                               ("研判依据", "grade_rule", 18), ("承办单位", "unit_name", 18), *_CALLER]),
    ("overdue", "超期工单", [*_TICKET, ("时限", "clock_label", 9), ("到期时间", "clock_due", 17),
                          ("已超期", "overdue_by", 10), ("上次调度以来新增", "fresh_text", 9), *_CALLER]),
    ("warnings", "即将超期工单（预警）", [*_TICKET, ("时限", "clock_label", 9), ("到期时间", "clock_due", 17), *_CALLER]),
    ("returned_twice", "提交分析研判小组工单", [("工单编号", "number", 18), ("提交原因", "why", 20),
                                       ("提交时间", "queued_at", 17), ("回退经过", "chain_text", 60),
                                       ("属地兜底建议", "fallback_name", 16), *_CALLER]),
    ("late_returns", "超时回退工单", [*_TICKET, ("交办时间", "dispatched_at", 17), ("回退时间", "returned_at", 17),
                                  ("超出时限", "late_by_text", 10), ("回退理由", "return_reason", 30), *_CALLER]),
]


def complete_lists(sheet: Sheet) -> bytes:
    """The XLSX of the sheet: the counts per unit and every ticket of every list."""
    rows = {"units": [*sheet.unit_rows, {"name": "合计", **sheet.totals}], **sheet.lists}
    return workbook([(title, columns, rows[key]) for key, title, columns in SHEETS])
