"""The service's words for its own values, defined once: what a document, a console page or a
command prints for an event kind, a caller's satisfaction and a reply's kind, and each unit's name.
The values themselves are the enums of ``worker/models.py`` (``EventKind``, ``RunState``,
``MessageState``…); the import mapping reads the platform's words into them (``config/import-mapping.yaml``)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import EventKind, MessageState, Role, RunState, Unit

EVENT_LABELS = {EventKind.DISPATCHED.value: "交办", EventKind.SIGNED.value: "签收", EventKind.RETURNED.value: "回退",
                EventKind.REPLIED.value: "答复", EventKind.REVIEWED.value: "审核", EventKind.EXTENDED.value: "延期",
                EventKind.PLANNED.value: "列入计划", EventKind.CALLBACK.value: "回访", EventKind.REDO.value: "重办",
                EventKind.CLOSED.value: "办结"}
SATISFACTION_WORDS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
REPLY_KINDS = {"normal": "正常答复", "out_of_scope": "不在受理范围", "not_true": "情况不属实", "explained": "解释说明",
               "planned": "列入计划"}
# The console's words for a run's and a message's state, and for a person's role ("operations": the
# console's own role of operators, not one of the directory's).
RUN_STATES = {RunState.QUEUED.value: "排队中", RunState.RUNNING.value: "运行中", RunState.SUCCEEDED.value: "已完成",
              RunState.FAILED.value: "失败"}
MESSAGE_STATES = {MessageState.PENDING.value: "待发送", MessageState.SENDING.value: "发送中",
                  MessageState.SENT.value: "已发送", MessageState.FAILED.value: "发送失败", MessageState.HELD.value: "暂缓",
                  MessageState.CANCELLED.value: "已取消"}
ROLE_LABELS = {Role.HOTLINE_CENTER.value: "热线中心", Role.PRINCIPAL_LEADER.value: "区政府主要领导",
               Role.PEOPLES_CONGRESS.value: "区人大", Role.ANALYSIS_GROUP.value: "分析研判小组",
               Role.LEADER_IN_CHARGE.value: "分管领导", Role.UNIT_HEAD.value: "单位负责人", Role.LIAISON.value: "联络员",
               Role.JUSTICE_BUREAU.value: "司法局", "operations": "运维"}


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → the unit's name, as the directory has it now."""
    return dict(session.execute(select(Unit.code, Unit.name)).all())
