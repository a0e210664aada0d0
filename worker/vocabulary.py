"""The service's words for its own values, defined once: what a document, a console page or a
command prints for an event kind, a caller's satisfaction and a reply's kind, and each unit's name.
The values themselves are the enums of ``worker/models.py`` (``EventKind``, ``RunState``,
``MessageState``…); the import mapping reads the platform's words into them (``config/import-mapping.yaml``)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import EventKind, Unit

EVENT_LABELS = {EventKind.DISPATCHED.value: "交办", EventKind.SIGNED.value: "签收", EventKind.RETURNED.value: "回退",
                EventKind.REPLIED.value: "答复", EventKind.REVIEWED.value: "审核", EventKind.EXTENDED.value: "延期",
                EventKind.PLANNED.value: "列入计划", EventKind.CALLBACK.value: "回访", EventKind.REDO.value: "重办",
                EventKind.CLOSED.value: "办结"}
SATISFACTION_WORDS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
REPLY_KINDS = {"normal": "正常答复", "out_of_scope": "不在受理范围", "not_true": "情况不属实", "explained": "解释说明",
               "planned": "列入计划"}


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → the unit's name, as the directory has it now."""
    return dict(session.execute(select(Unit.code, Unit.name)).all())
