"""The data model: directory, tickets and their event history, derived assignments, run ledger.

The event history (``ticket_events``) is the truth.  ``assignments`` holds one derived row per
dispatch of a ticket to a unit, with its due times and the facts the metrics count; it is
rebuilt from the events on import and on recompute (see ``worker.assignments``), together with
``assignment_clocks``, the same facts laid out one row per clock for the period metrics.
"""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .times import LocalDateTime, PreciseLocalDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: LocalDateTime}  # noqa: RUF012 (SQLAlchemy reads it as is)


class UnitKind(str, enum.Enum):
    DEPARTMENT = "department"          # 部门
    TERRITORIAL = "territorial"        # 街道、园区 (属地)
    HOTLINE_CENTER = "hotline_center"  # 热线中心
    JUSTICE_BUREAU = "justice_bureau"  # 司法局
    ANALYSIS_GROUP = "analysis_group"  # 分析研判小组
    LEADERSHIP = "leadership"          # 区政府、区人大


class Role(str, enum.Enum):
    UNIT_HEAD = "unit_head"                  # 单位主要负责人
    LEADER_IN_CHARGE = "leader_in_charge"    # 区级分管领导
    PRINCIPAL_LEADER = "principal_leader"    # 区政府主要领导
    PEOPLES_CONGRESS = "peoples_congress"    # 区人大
    DISTRICT_COMMITTEE = "district_committee"  # 区委 (its office receives the tier-4 提请)
    HOTLINE_CENTER = "hotline_center"
    JUSTICE_BUREAU = "justice_bureau"
    ANALYSIS_GROUP = "analysis_group"
    LIAISON = "liaison"                      # 联络员


class RunState(str, enum.Enum):
    """A run's place in the ledger (``worker/runs.py``)."""
    QUEUED = "queued"          # waiting for a worker (or for its inline execution)
    RUNNING = "running"        # claimed; its heartbeat says the worker is alive
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"        # a slot the calendar or the misfire rule passed over


class MessageState(str, enum.Enum):
    """An outbox message's state (``worker/mail.py``, ``worker/delivery.py``)."""
    PENDING = "pending"        # due at ``not_before``
    SENDING = "sending"        # claimed by a sender
    SENT = "sent"
    FAILED = "failed"          # refused for good, or impossible to send: alerted
    HELD = "held"              # an operator holds it: never sent until released
    CANCELLED = "cancelled"    # an operator cancelled it: never sent


class EventKind(str, enum.Enum):
    DISPATCHED = "dispatched"  # 交办
    SIGNED = "signed"          # 签收
    RETURNED = "returned"      # 回退
    REPLIED = "replied"        # 答复
    REVIEWED = "reviewed"      # 审核
    EXTENDED = "extended"      # 延期
    PLANNED = "planned"        # 列入计划
    CALLBACK = "callback"      # 回访
    REDO = "redo"              # 重办
    CLOSED = "closed"          # 办结
    CONTACTED = "contacted"    # 联系: the unit called the caller (who, on which number); no clock


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)




class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(100))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    oversees: Mapped[list[Oversight]] = relationship(cascade="all, delete-orphan")
    __table_args__ = (UniqueConstraint("name", "role", "unit_code", name="uq_person"),)


class Oversight(Base):
    """A leader in charge (分管领导) oversees several units."""
    __tablename__ = "oversight"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)


class Category(Base):
    """事项编码: hierarchical by prefix (``0401`` is the parent of ``040102``)."""
    __tablename__ = "categories"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    law_enforcement: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_kind: Mapped[str | None] = mapped_column(String(16))
    tourism: Mapped[bool] = mapped_column(Boolean, default=False)
    should_handle: Mapped[bool] = mapped_column(Boolean, default=True)  # 应办事项


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)  # 工单编号
    source: Mapped[str] = mapped_column(String(32))
    category_code: Mapped[str] = mapped_column(String(32))
    urgent_kind: Mapped[str | None] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    caller_name: Mapped[str | None] = mapped_column(String(100))
    caller_phone: Mapped[str | None] = mapped_column(String(32))   # its index dropped (migration 0017)
    address: Mapped[str | None] = mapped_column(String(300))
    territorial_unit_code: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    severity: Mapped[str | None] = mapped_column(String(8))     # 敏感 / 重大 / 一般
    grade_class: Mapped[str | None] = mapped_column(String(4))  # A / B / C
    grade_rule: Mapped[str | None] = mapped_column(String(100))
    # The time of its last event, and how long it lived (``assignments.life_class``): the tickets
    # with an event after a moment are found among few (``worker.asof``).
    last_event_at: Mapped[datetime | None]
    life_class: Mapped[int | None] = mapped_column(SmallInteger)
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.at", cascade="all, delete-orphan")
    __table_args__ = (Index("ix_tickets_received", "received_at"),
                      Index("ix_tickets_address_cat", "address", "category_code"),
                      Index("ix_tickets_life", "life_class", "received_at"))


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    unit_code: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)   # the step's own text: a reply's 答复内容
    suggested_unit_code: Mapped[str | None] = mapped_column(String(32))
    reply_kind: Mapped[str | None] = mapped_column(String(32))
    review_passed: Mapped[bool | None] = mapped_column(Boolean)
    days: Mapped[int | None] = mapped_column(Integer)
    consent: Mapped[bool | None] = mapped_column(Boolean)
    plan_date: Mapped[date | None] = mapped_column(Date)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    contact_person: Mapped[str | None] = mapped_column(String(100))   # 联系人员 (migration 0010)
    contact_phone: Mapped[str | None] = mapped_column(String(40))     # the number the unit called from
    ticket: Mapped[Ticket] = relationship(back_populates="events")
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind", "at", "unit_code", name="uq_event"),
        Index("ix_events_kind_at", "kind", "at"),   # events of a kind in a window (migration 0008)
    )


class ImportLog(Base):
    """One row per file imported: what it read and what became of the rows (for the metrics)."""
    __tablename__ = "import_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(500))
    finished_at: Mapped[datetime]
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_stored: Mapped[int] = mapped_column(Integer)
    rows_unchanged: Mapped[int] = mapped_column(Integer)
    rows_refused: Mapped[int] = mapped_column(Integer)


class ImportCorrection(Base):
    """What a corrected re-export changed: one row per field of a ticket or an event (audit)."""
    __tablename__ = "import_corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(500))
    line: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(40))   # "ticket", or the event: "signed#1"
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    corrected_at: Mapped[datetime]
    __table_args__ = (Index("ix_corrections_ticket", "ticket_id"),)


class Assignment(Base):
    """One dispatch of a ticket to a unit, with everything the metrics count (derived)."""
    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(32))
    category_code: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    law_enforcement: Mapped[bool] = mapped_column(Boolean, default=False)
    is_current: Mapped[bool] = mapped_column(Boolean)       # the ticket's accountable dispatch
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)  # open at the unit (latest data): open_until IS NULL
    dispatched_at: Mapped[datetime]
    clock_started_at: Mapped[datetime]    # dispatch, or the last redo (重办 starts a new clock)
    signed_at: Mapped[datetime | None]
    responded_in_time: Mapped[bool] = mapped_column(Boolean, default=False)
    returned_at: Mapped[datetime | None]
    return_reason: Mapped[str | None] = mapped_column(Text)
    returned_in_window: Mapped[bool | None] = mapped_column(Boolean)
    first_replied_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]   # the reply the centre passed
    reply_kind: Mapped[str | None] = mapped_column(String(32))
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    plan_date: Mapped[date | None] = mapped_column(Date)
    reply_due: Mapped[datetime | None]
    completion_due: Mapped[datetime | None]
    return_until: Mapped[datetime | None]
    callback_at: Mapped[datetime | None]
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    redo_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None]
    ticket_return_count: Mapped[int] = mapped_column(Integer, default=0)
    # When the assignment stopped being open at the unit: returned, finished, closed or superseded
    # by a new dispatch, whichever came first (NULL while open).
    open_until: Mapped[datetime | None]
    # How long the assignment stayed open: ``open_until`` within 2**span_class days of its dispatch
    # (NULL while open).  It bounds "open at a past moment" to a short window of dispatch times
    # per class (see detection.open_at).
    span_class: Mapped[int | None] = mapped_column(SmallInteger)
    __table_args__ = (
        UniqueConstraint("ticket_id", "seq", name="uq_assignment"),
        Index("ix_asg_unit_dispatched", "unit_code", "dispatched_at"),
        Index("ix_asg_dispatched", "dispatched_at"),
        Index("ix_asg_callback", "callback_at"),
        Index("ix_asg_open_due", "finished_at", "completion_due"),   # the law push: replied in its window
        # The open accountable assignments: what the daily detections read (see detection.open_at).
        # A column of its own, not "is_current AND finished_at IS NULL": the planner then knows how
        # few rows are open (thousands of millions) and plans the daily detections for that.
        Index("ix_asg_open", "dispatched_at", postgresql_where=text("is_open IS true"),
              sqlite_where=text("is_open IS 1")),
        Index("ix_asg_span", "span_class", "dispatched_at"),
        Index("ix_asg_completion_due", "completion_due"),
        Index("ix_asg_reply_due", "reply_due"),   # the daily sheet's "fell overdue since" (detection)
        Index("ix_asg_first_replied", "first_replied_at"),
        Index("ix_asg_returned", "returned_at"),
    )


class Clock(enum.IntEnum):
    """The moments by which a period's metrics count an assignment (DOMAIN.md "Metrics")."""
    DISPATCHED = 1      # volume, response, returns
    FIRST_REPLIED = 2   # redo rate
    COMPLETION_DUE = 3  # overdue rate
    CALLBACK = 4        # resolution and satisfaction (the assignment's last callback)
    FIRST_CALLBACK = 5  # 初次解决率 / 初次满意率 (its first callback)
    RETURNED = 6        # returns by return time; late = after the return window (超时回退)


CLOCK_FLAGS = ("counted", "responded", "returned", "returned_twice", "resolved", "judged", "satisfied",
               "evaluated", "late", "redone")


class AssignmentClock(Base):
    """One derived row per assignment and clock: the time it counts at and what it counts (0/1).

    Derived with the assignments (``worker.assignments.clock_rows``), so that a period's metrics
    are one range scan over ``at`` grouped by unit and clock; the index on ``at`` carries every
    column the metrics read (INCLUDE on PostgreSQL, key columns on SQLite), so that scan never
    touches the table.
    """
    __tablename__ = "assignment_clocks"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    clock: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    at: Mapped[datetime]
    unit_code: Mapped[str] = mapped_column(String(32))
    category_code: Mapped[str] = mapped_column(String(32))
    current: Mapped[int] = mapped_column(SmallInteger)   # the ticket's accountable dispatch
    counted: Mapped[int] = mapped_column(SmallInteger)   # not returned inside the window
    responded: Mapped[int] = mapped_column(SmallInteger)
    returned: Mapped[int] = mapped_column(SmallInteger)
    returned_twice: Mapped[int] = mapped_column(SmallInteger)
    resolved: Mapped[int] = mapped_column(SmallInteger)
    judged: Mapped[int] = mapped_column(SmallInteger)    # resolved or not resolved was recorded
    satisfied: Mapped[int] = mapped_column(SmallInteger)
    evaluated: Mapped[int] = mapped_column(SmallInteger)
    late: Mapped[int] = mapped_column(SmallInteger)      # finished after the due time, or not finished
    redone: Mapped[int] = mapped_column(SmallInteger)
    __table_args__ = (
        Index("ix_clock_at", "at", postgresql_include=["clock", "unit_code", "category_code", "current",
                                                       *CLOCK_FLAGS]).ddl_if(dialect="postgresql"),
        # SQLite has no INCLUDE: the same columns in the key (migration 0004).
        Index("ix_clock_cover", "at", "clock", "unit_code", "category_code", "current",
              *CLOCK_FLAGS).ddl_if(dialect="sqlite"),
    )


class ClockDay(Base):
    """Per day, unit and clock: the clock rows' count and sums, kept with them (``assignments.refresh``
    takes out what a ticket's old rows counted and adds what its new ones count).  A period of whole
    days reads a few thousand of these instead of every clock row in it: on SQLite, without an
    index-only scan worth the name, that is what keeps a month's metrics near a bare count."""
    __tablename__ = "clock_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    clock: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    counted: Mapped[int] = mapped_column(Integer)
    responded: Mapped[int] = mapped_column(Integer)
    returned: Mapped[int] = mapped_column(Integer)
    returned_twice: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
    judged: Mapped[int] = mapped_column(Integer)
    satisfied: Mapped[int] = mapped_column(Integer)
    evaluated: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)
    redone: Mapped[int] = mapped_column(Integer)


class AnalysisItem(Base):
    """A ticket returned two or more times, queued for the analysis group (分析研判小组).

    ``twice_at`` (its second return) and ``finished_at`` (its accountable reply accepted) are kept
    with the assignments, so that "returned twice and not finished at a moment" reads only the
    queue entries still unfinished then (``ix_analysis_finished``), not the whole queue."""
    __tablename__ = "analysis_queue"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    queued_at: Mapped[datetime]
    chain: Mapped[list] = mapped_column(JSON)
    fallback_unit_code: Mapped[str | None] = mapped_column(String(32))
    twice_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_analysis_finished", "finished_at"),)


class Run(Base):
    """The run ledger: one row per (schedule, nominal fire time); manual runs get their own key."""
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(100))
    nominal_at: Mapped[datetime]
    job: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default=RunState.QUEUED.value)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(PreciseLocalDateTime)   # to the microsecond: durations
    heartbeat_at: Mapped[datetime | None]   # refreshed while a worker holds the run
    finished_at: Mapped[datetime | None] = mapped_column(PreciseLocalDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)       # claims so far; the holder's number
    enqueued_at: Mapped[datetime | None]                            # the last time its message was sent
    enqueues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message_id: Mapped[str | None] = mapped_column(String(64))      # the broker's message of the last send
    worker: Mapped[str | None] = mapped_column(String(100))         # host:pid of the process of the last claim
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict | None] = mapped_column(JSON)
    __table_args__ = (UniqueConstraint("schedule", "nominal_at", name="uq_run_slot"),
                      Index("ix_runs_state", "state"))


class Document(Base):
    """Every rendered document, archived by path and hash; re-rendering keeps its issue number."""
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(100))   # period key plus unit or tier where relevant
    issue_no: Mapped[int | None] = mapped_column(Integer)
    issued_on: Mapped[date | None] = mapped_column(Date)       # the date it carries, kept on re-render
    issued_at: Mapped[datetime | None]                         # the moment it speaks of, kept on re-render
    doc_year: Mapped[int | None] = mapped_column(Integer)      # 发文字号: 〔doc_year〕doc_no号, per kind
    doc_no: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("kind", "scope", name="uq_document"),
                      UniqueConstraint("kind", "issue_no", name="uq_document_issue"),
                      UniqueConstraint("kind", "doc_year", "doc_no", name="uq_document_number"))


class DocumentVersion(Base):
    """Every distinct rendering of a document, kept as its own file (``<kind>/<key>/v<N>.pdf``): a
    re-render that changes the content adds a version and never overwrites what was sent."""
    __tablename__ = "document_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    companions: Mapped[dict | None] = mapped_column(JSON)   # files beside the PDF: suffix → SHA-256
    __table_args__ = (UniqueConstraint("document_id", "version", name="uq_document_version"),)


class WeekResult(Base):
    """Whether a unit failed a week (双率 below requirement and bottom-ranked)."""
    __tablename__ = "week_results"
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(20), primary_key=True)  # 2026-W45 or 2026-11
    failing: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict] = mapped_column(JSON)


class LadderEvaluation(Base):
    """A period the ladder has evaluated, and when: a document as of T knows the results of the
    periods evaluated by T (``worker.ladder``)."""
    __tablename__ = "ladder_evaluations"
    period_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    evaluated_at: Mapped[datetime]


class EscalationState(str, enum.Enum):
    ISSUED = "issued"            # the notice went out
    SUPERSEDED = "superseded"    # reached while a higher tier was in force or issued the same day (已在更高层级)


class Escalation(Base):
    """A tier of the ladder reached by a unit, once per run of failing periods: issued, or recorded
    as superseded by a higher tier (``worker.ladder``)."""
    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    run_started: Mapped[str] = mapped_column(String(20))  # first failing period of the run
    period_key: Mapped[str] = mapped_column(String(20))   # the period that triggered it
    fired_at: Mapped[datetime]                            # the evaluation's moment
    state: Mapped[str] = mapped_column(String(16), default=EscalationState.ISSUED.value,
                                       server_default=EscalationState.ISSUED.value)
    cites_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))  # the tier it follows (requires:)
    __table_args__ = (UniqueConstraint("unit_code", "tier", "run_started", name="uq_escalation"),)


class SupervisionItem(Base):
    """A ticket put under supervision (挂牌督办) at a stage; once per ticket and stage.  With the
    letter's deadline it is the supervision ledger (``worker.supervision``: open, overdue on the
    letter, closed — 销号)."""
    __tablename__ = "supervision_items"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)  # reply | completion | unresolved | analysis
    unit_code: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)   # the letter's date to act by


class SupervisionStep(Base):
    """One step of closing out a supervision entry on line (seed 004: 挂牌督办、销号管理): the unit's
    answer (what was done, an attachment kept under ``$HOTLINE_VAR/supervision``), the centre's
    acceptance (销号) or its return with a reason.  Never changed once written: the state at a
    moment is the last step by then (``worker.supervision``)."""
    __tablename__ = "supervision_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))      # answer | accept | return
    at: Mapped[datetime]
    by_email: Mapped[str] = mapped_column(String(200))
    by_name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)              # what was done, or why it is returned
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (ForeignKeyConstraint(["ticket_id", "stage"], ["supervision_items.ticket_id", "supervision_items.stage"],
                                           ondelete="CASCADE"),
                      Index("ix_supervision_steps_entry", "ticket_id", "stage", "at"),
                      Index("ix_supervision_steps_at", "at"))


class Blob(Base):
    """Attachment bytes by hash, so an outbox row can be resent later: the attachments that are not
    an archived document version (data files, editable copies).  A document's bytes are stored once,
    in the archive; ``worker.mail.attachment_data`` reads them back and checks their hash."""
    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    idem_key: Mapped[str] = mapped_column(String(300), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    recipient_email: Mapped[str] = mapped_column(String(200))
    recipient_name: Mapped[str] = mapped_column(String(100))
    recipient_role: Mapped[str] = mapped_column(String(32))
    sender_name: Mapped[str | None] = mapped_column(String(100))   # the issuing body of the kind
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)  # [{"name", "sha256"}]
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=MessageState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    server_reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime]          # retry backoff: not attempted again before this
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))   # the sender holding the claim
    sent_at: Mapped[datetime | None]
    operator: Mapped[str | None] = mapped_column(String(100))     # who last held, cancelled or retried it
    operated_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_state", "state", "not_before"),)


class DocumentTicket(Base):
    """A ticket a document names (its lists, its cases), kept when it is stored: what the console's
    ticket page shows as "the letters and notices that named it", and how documents are searched
    by ticket number."""
    __tablename__ = "document_tickets"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_document_tickets_ticket", "ticket_id"),)


class MessageDocument(Base):
    """A document a message carries (matched by the attachment's hash when the message is queued):
    who received a document and when, and which documents a unit's people were sent."""
    __tablename__ = "message_documents"
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_message_documents_document", "document_id"),)


class ConsoleUser(Base):
    """A login of the web console.  Who the person is, and so what they may see, comes from the
    directory by ``email`` (``worker.web.access``); ``operations`` is the console's own role
    (re-run, hold, retry), not a directory role."""
    __tablename__ = "console_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))   # argon2id; NULL: proxy logins only
    operations: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # In every session cookie; bumped by sign-out, a password change, disable and re-enable, so the
    # sessions signed before no longer open a page.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Every sign-in attempt, known login or not (real clock, never ``--as-of``): what the login
    throttle counts (``worker.web.access``) and what an operator reads after an attack."""
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    login: Mapped[str] = mapped_column(String(200))     # as typed (trimmed, lower case)
    address: Mapped[str] = mapped_column(String(64))    # the client's address
    outcome: Mapped[str] = mapped_column(String(16))    # ok | wrong | throttled
    __table_args__ = (Index("ix_login_attempts_login_at", "login", "at"),
                      Index("ix_login_attempts_address_at", "address", "at"))


class ConsoleAction(Base):
    """What a console user did (log in, re-run, hold, release, retry): who, when, what, result."""
    __tablename__ = "console_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    user_email: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_console_actions_at", "at"),)
