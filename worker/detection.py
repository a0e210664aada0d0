"""Detections at a moment ``as_of``, as SQL over the assignments and events.

"Open at ``as_of``" means dispatched to the unit by then and not yet returned, finished, closed or
superseded then (a dispatch later returned was open at the returning unit until its return).  Lists come back as plain dicts joined with the ticket (for documents); counts per unit
are grouped in the database.

Every function reads the derived rows as they stood at its moment (``worker.asof.view``): ``A`` below
is that view's assignments, and a caller adding conditions builds them on ``view(session, as_of).A``
(the same object for the same session and moment).  A function over a period reads the rows as they
stood at the period's end.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import and_, case, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from .asof import view
from .assignments import SPAN_TOP
from .calendar import WorkCalendar
from .config import policy
from .models import Category, Ticket
from .periods import Period
from .policy_schema import Metrics, Repeat, RepeatName, RepeatRule
from .rules import load_rules
from .times import end_of_day

TICKET_COLUMNS = (Ticket.number, Ticket.content, Ticket.caller_name, Ticket.caller_phone, Ticket.address,
                  Ticket.received_at, Ticket.severity, Ticket.grade_class, Ticket.territorial_unit_code)


def assignment_columns(A) -> tuple:
    return (A.ticket_id, A.unit_code, A.category_code, A.source, A.dispatched_at, A.signed_at,
            A.reply_due, A.completion_due, A.finished_at, A.first_replied_at, A.callback_at,
            A.satisfaction, A.resolved, A.redo_count, A.returned_at, A.return_reason,
            A.ticket_return_count, A.extended_days, A.plan_date, A.reply_kind)


def list_columns(A) -> tuple:
    """What a document's ticket list shows, and what supervision keys on: the daily lists read no more."""
    return (A.ticket_id, A.unit_code, A.completion_due, A.reply_due, A.first_replied_at, Ticket.number,
            Ticket.content, Ticket.caller_name, Ticket.caller_phone)

REPLY, COMPLETION = "reply", "completion"
CLOCK_LABELS = {REPLY: "答复时限", COMPLETION: "办结时限"}


@lru_cache(maxsize=16)
def open_at(A, as_of: datetime):
    """Open at the unit at ``as_of``: dispatched by then and not yet returned, finished, closed or
    superseded then (DOMAIN.md "Open at a moment"; a dispatch returned later was open until its
    return).  Built once per view and moment: its forty comparisons cost SQLAlchemy more to
    construct than the database to plan.

    One arm for the assignments still open (partial index ``ix_asg_open``), and one per span
    class for those that stopped being open since, which exist only when ``as_of`` lies in the
    past: an assignment open for at most 2**k days and open at ``as_of`` was dispatched in the
    2**k days before it (``assignments.span_class``; index ``ix_asg_span``).  Without the bound,
    a moment in June would read every assignment finished since June."""
    ended_since = [and_(A.span_class == k, A.dispatched_at > as_of - timedelta(days=1 << k), A.open_until > as_of)
                   for k in range(SPAN_TOP)]
    return and_(A.dispatched_at <= as_of, or_(A.is_open.is_(True), *ended_since,
                                              and_(A.span_class == SPAN_TOP, A.open_until > as_of)))


def _open_plain(A, as_of: datetime):
    """The same set as ``open_at`` by the plain definition: for classifying rows already found."""
    return and_(A.dispatched_at <= as_of, or_(A.open_until.is_(None), A.open_until > as_of))


def _rows(session: Session, A, *where, order=None, columns=None) -> list[dict]:
    columns = columns or (*assignment_columns(A), *TICKET_COLUMNS)
    stmt = select(*columns).join(Ticket, Ticket.id == A.ticket_id)
    return _dicts(session.execute(stmt.where(*where).order_by(*(order or (A.unit_code, A.completion_due,
                                                                            Ticket.number)))))


def _dicts(result) -> list[dict]:
    """Rows as plain dicts (zipped with the keys: a third of the cost of ``Row._asdict``)."""
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result]


def _unreplied(A, as_of: datetime):
    return or_(A.first_replied_at.is_(None), A.first_replied_at > as_of)


def past_due(A, as_of: datetime):
    """超期 at ``as_of`` (with ``open_at``): past its completion due, or past its reply due without a reply."""
    return or_(A.completion_due < as_of, and_(A.reply_due.is_not(None), A.reply_due < as_of, _unreplied(A, as_of)))


def not_past_due(A, as_of: datetime):
    """``past_due`` negated, written as ranges the planner can estimate."""
    return and_(A.completion_due >= as_of, or_(A.reply_due.is_(None), A.reply_due >= as_of,
                                               A.first_replied_at <= as_of))


def dispatched_between(A, since: datetime, as_of: datetime):
    return and_(A.dispatched_at >= since, A.dispatched_at <= as_of)


def fell_due_between(A, since: datetime, as_of: datetime):
    """Overdue since ``since`` (with ``open_at``): its completion due, or its reply due with no
    reply yet, passed in [since, as_of).  What the daily sheet lists as new; a ticket overdue for
    days was listed the day it fell due.  Each arm is a range on one column, which the planner
    estimates well (an OR of open-ended bounds it took for nearly every row)."""
    return or_(and_(A.completion_due >= since, A.completion_due < as_of),
               and_(A.reply_due >= since, A.reply_due < as_of, _unreplied(A, as_of)))


def missed_clock(row: dict, as_of: datetime) -> tuple[str, datetime] | None:
    """The clock an open ticket has missed at ``as_of``: the completion due once it passed, else
    the reply due passed without a reply; None when neither has."""
    if row["completion_due"] is not None and row["completion_due"] < as_of:
        return COMPLETION, row["completion_due"]
    replied = row["first_replied_at"] is not None and row["first_replied_at"] <= as_of
    if row["reply_due"] is not None and row["reply_due"] < as_of and not replied:
        return REPLY, row["reply_due"]
    return None


def next_clock(row: dict, as_of: datetime) -> tuple[str, datetime]:
    """The next clock that falls due for a ticket not overdue at ``as_of``: its reply due while
    unanswered, else its completion due (DOMAIN.md: warnings go by the next clock)."""
    replied = row["first_replied_at"] is not None and row["first_replied_at"] <= as_of
    if row["reply_due"] is not None and not replied and row["reply_due"] <= row["completion_due"]:
        return REPLY, row["reply_due"]
    return COMPLETION, row["completion_due"]


def with_clock(rows: list[dict], as_of: datetime, overdue: bool) -> list[dict]:
    """Each row with the clock a list shows: ``clock`` (reply | completion), ``clock_label``
    (答复时限 / 办结时限) and ``clock_due``."""
    for r in rows:
        clock, due = (missed_clock(r, as_of) if overdue else None) or next_clock(r, as_of)
        r.update(clock=clock, clock_label=CLOCK_LABELS[clock], clock_due=due)
    return rows


def overdue_open(session: Session, as_of: datetime, *where) -> list[dict]:
    """超期: open and past due at ``as_of`` (and ``where``, on ``view(session, as_of).A``: the daily
    sheet lists those that ``fell_due_between`` its window's bounds, supervision those without a
    letter yet), each with the clock it missed (``with_clock``)."""
    A = view(session, as_of).A
    # Their keys first, then these rows with their tickets: the open-at-a-moment arms are estimated
    # far above the few they hold, and joined at once the planner read the whole tickets table.
    ids = list(session.scalars(select(A.id).where(open_at(A, as_of), past_due(A, as_of), *where)))
    return with_clock(_rows(session, A, A.id.in_(ids), columns=list_columns(A)), as_of, True) if ids else []


def finished_late(session: Session, period: Period) -> list[dict]:
    A = view(session, period.end_at).A
    return _rows(session, A, A.is_current.is_(True), A.finished_at >= period.start_at, A.finished_at < period.end_at,
                 A.finished_at > A.completion_due)


def warning_horizon(cal: WorkCalendar, as_of: datetime, working_days: int | None = None) -> datetime:
    """The end of the warning window: the end of the next ``working_days`` working day(s)."""
    n = working_days if working_days is not None else policy.metrics().warning_working_days
    return end_of_day(cal.add_working_days(as_of.date(), n))


def previous_workday_same_time(cal: WorkCalendar, as_of: datetime) -> datetime:
    """The start of a daily window: the previous working day at the same clock time (covers weekends)."""
    day = as_of.date() - timedelta(days=1)
    while not cal.is_workday(day):
        day -= timedelta(days=1)
    return datetime.combine(day, as_of.time())


def due_within(A, as_of: datetime, horizon: datetime):
    """预警: not overdue at ``as_of``, and its next clock (the reply due while unanswered, or the
    completion due) falls due by ``horizon``.  A ticket already overdue on one clock is listed as
    overdue, not warned.  The reply arm carries its lower bound (implied by ``not_past_due``), so
    the planner sees a range of a day or two, not every reply due since the start (without it, it
    reads far more rows than it keeps and joins every ticket by a sequential scan)."""
    return and_(not_past_due(A, as_of), or_(A.completion_due <= horizon,
                                            and_(A.reply_due >= as_of, A.reply_due <= horizon, _unreplied(A, as_of))))


def warnings(session: Session, as_of: datetime, horizon: datetime, *where) -> list[dict]:
    """预警: open and due between now and the horizon (``warning_horizon``) on either clock (and
    ``where``: the console's scope)."""
    A = view(session, as_of).A
    rows = _rows(session, A, open_at(A, as_of), due_within(A, as_of, horizon), *where, columns=list_columns(A),
                 order=(A.unit_code, func.coalesce(A.reply_due, A.completion_due), Ticket.number))
    return sorted(with_clock(rows, as_of, False), key=lambda r: (r["unit_code"], r["clock_due"], r["number"]))


def returned_twice_by_unit(session: Session, as_of: datetime, *scope) -> tuple[dict[str, int], int]:
    """Tickets returned two or more times by ``as_of`` and not finished then (awaiting 研判): per
    unit that returned them (the deduction item's rule: every returning unit is charged, the unit
    holding it now is not), and in all (each ticket once); ``scope``: conditions on the returning
    assignment (the console's)."""
    A = view(session, as_of).A
    where = _returned_twice(session, as_of, *scope)
    per_unit = dict(session.execute(select(A.unit_code, func.count(func.distinct(A.ticket_id)))
                                    .where(*where).group_by(A.unit_code)).all())
    total = session.scalar(select(func.count(func.distinct(A.ticket_id))).where(*where)) or 0
    return {k: int(v) for k, v in per_unit.items()}, int(total)


def _returned_twice(session: Session, as_of: datetime, *scope) -> tuple:
    """The returning assignments of tickets returned twice by ``as_of`` and not finished then: the
    queue entries unfinished at ``as_of`` whose second return came by then (the queue also holds
    tickets whose owner was not fixed in time).  Their ids are read first, a few hundred at most:
    as a subquery the planner took them for thousands and walked every return before ``as_of``
    (68,000 rows for 700 on a replayed day of the 2 M-ticket year)."""
    v = view(session, as_of)
    A, Q = v.A, v.Q
    unfinished = or_(Q.finished_at.is_(None), Q.finished_at > as_of)
    twice = select(Q.ticket_id).where(unfinished, Q.twice_at <= as_of)
    ids = session.scalars(twice).all()
    return (A.ticket_id.in_(ids) if len(ids) <= 10_000 else A.ticket_id.in_(twice), A.returned_at <= as_of, *scope)


def returned_twice_tickets(session: Session, as_of: datetime, *scope) -> list[dict]:
    """The tickets ``returned_twice_by_unit`` counts, one row per returning assignment (its unit,
    its return and reason), oldest return first."""
    A = view(session, as_of).A
    return _rows(session, A, *_returned_twice(session, as_of, *scope), order=(A.unit_code, A.returned_at, Ticket.number),
                 columns=(*list_columns(A), A.returned_at, A.return_reason))


def open_page(session: Session, as_of: datetime, *where, overdue: bool = False, limit: int = 200,
              offset: int = 0) -> tuple[int, list[dict]]:
    """(how many, one page) of the tickets open at ``as_of`` — ``overdue``: and past due — with
    ``where`` (the console's scope and unit), each with the clock it missed or the next one due,
    by unit, completion due and ticket.  The keys of all of them are read (narrow rows, sorted
    here: with ORDER BY … LIMIT the planner walked an index in that order and filtered most of
    it) and only the page's are joined with their tickets: a replayed day of the 2 M-ticket year
    has 18,000 open, and joining them all read the whole tickets table."""
    A = view(session, as_of).A
    conditions = (open_at(A, as_of), *((past_due(A, as_of),) if overdue else ()), *where)
    keys = session.execute(select(A.unit_code, A.completion_due, A.ticket_id, A.id).where(*conditions)).all()
    keys = sorted(keys, key=lambda k: (k[0], k[1] or datetime.max, k[2]))
    ids = [k[3] for k in keys[offset:offset + limit]]
    order = (A.unit_code, A.completion_due, A.ticket_id)
    rows = _rows(session, A, A.id.in_(ids), order=order, columns=list_columns(A)) if ids else []
    return len(keys), with_clock(rows, as_of, True)


def returned_twice(session: Session, as_of: datetime, since: datetime | None = None) -> list[dict]:
    """The analysis group's queue at ``as_of``: tickets returned two or more times, or whose owner
    was not fixed within ``ownership_dispute_hours`` of the first dispatch, with the chain of
    returns up to ``as_of``, the territorial fallback (属地兜底) and ``why`` (the rule that queued
    it); ``since``: only those queued since (a period's query, not the whole history's)."""
    Q = view(session, as_of).Q
    stmt = (select(Q.ticket_id, Q.chain, Q.fallback_unit_code, Q.queued_at, *TICKET_COLUMNS, Ticket.category_code)
            .join(Ticket, Ticket.id == Q.ticket_id).where(Q.queued_at <= as_of)
            .order_by(Q.queued_at, Ticket.number))
    if since is not None:
        stmt = stmt.where(Q.queued_at >= since)
    rows = _dicts(session.execute(stmt))
    hours = load_rules().ownership_dispute_hours
    for row in rows:
        returns = [link["returned_at"] for link in row["chain"]]
        twice = len(returns) >= 2 and returns[1] == row["queued_at"].isoformat(sep=" ")
        row["why"] = "回退两次" if twice else f"交办满{hours}小时仍未明确承办单位"
    return rows


def late_returns(session: Session, start: datetime, end: datetime) -> list[dict]:
    """Returns made after the return window closed (超时回退) in [start, end), oldest first, each
    with ``late_by`` (how long after the window).  The ticket still counts for the returning unit
    (DOMAIN.md decisions); the daily sheet lists these for the centre."""
    A = view(session, end).A
    rows = _rows(session, A, A.returned_in_window.is_(False), A.returned_at >= start, A.returned_at < end,
                 order=(A.returned_at, Ticket.number),
                 columns=(A.ticket_id, A.unit_code, A.dispatched_at, A.return_until, A.returned_at, A.return_reason,
                          Ticket.number, Ticket.content, Ticket.caller_name, Ticket.caller_phone))
    for r in rows:
        r["late_by"] = r["returned_at"] - r["return_until"]
    return rows


def redos(session: Session, period: Period) -> list[dict]:
    """Unsatisfied callbacks on matters the unit should handle that led to a redo (重办); repeated redo
    is ``redo_count >= 2``."""
    A = view(session, period.end_at).A
    return _rows(session, A, A.redo_count > 0, A.callback_at >= period.start_at, A.callback_at < period.end_at)


def unresolved_callbacks(session: Session, start: datetime, end: datetime, unsatisfied_only: bool = True) -> list[dict]:
    """Callbacks made in [start, end] that found the matter unresolved (未解决) — and unsatisfied
    when ``unsatisfied_only`` — each with the ticket's accountable unit, as recorded by the callback
    event itself (a later callback does not hide it)."""
    from .models import TicketEvent as E

    A = view(session, end).A
    where = [E.kind == "callback", E.at >= start, E.at <= end, E.resolved.is_(False), A.is_current.is_(True)]
    if unsatisfied_only:
        where.append(E.satisfaction == "unsatisfied")
    stmt = (select(*list_columns(A), E.at.label("callback_at"), E.satisfaction)
            .join(Ticket, Ticket.id == A.ticket_id).join(E, E.ticket_id == A.ticket_id)
            .where(*where).order_by(A.unit_code, Ticket.number, E.at))
    seen, out = set(), []
    for row in _dicts(session.execute(stmt)):
        if row["ticket_id"] not in seen:   # the first such callback of the window
            seen.add(row["ticket_id"])
            out.append(row)
    return out


def law_enforcement(session: Session, start: datetime, end: datetime) -> list[dict]:
    """Tickets of the selected 事项编码 (sub-codes included), dispatched, replied or called back in
    [start, end): the new ones and those whose handling changed since the previous push."""
    A = view(session, end).A
    active = or_(and_(A.dispatched_at >= start, A.dispatched_at < end),
                 and_(A.finished_at >= start, A.finished_at < end),
                 and_(A.callback_at >= start, A.callback_at < end))
    return _rows(session, A, A.is_current.is_(True), A.law_enforcement.is_(True), active,
                 order=(A.category_code, Ticket.number))


def repeated_callers(session: Session, as_of: datetime, count: int, days: int) -> list[dict]:
    """反复性: the same caller phone ``count`` times or more within ``days`` days before ``as_of``."""
    since = as_of - timedelta(days=days)
    stmt = (select(Ticket.caller_phone, func.count().label("n"), func.min(Ticket.received_at).label("first"),
                   func.max(Ticket.received_at).label("last"))
            .where(Ticket.received_at > since, Ticket.received_at <= as_of, Ticket.caller_phone.is_not(None))
            .group_by(Ticket.caller_phone).having(func.count() >= count).order_by(func.count().desc(),
                                                                                   Ticket.caller_phone))
    return _dicts(session.execute(stmt))


def repeat_ledger(session: Session, as_of: datetime, cfg: Metrics | None = None) -> list[dict]:
    """The repeat-complaint ledger (反复投诉工作台账, seed 004: 建立工作台账…逐一回访销号): each
    repeated matter of ``repeat`` in config/metrics.yaml as of ``as_of`` — the same caller, or the same
    address and 事项编码 — with its tickets, the unit holding the latest, and its state: 已销号 when
    every ticket is replied and the latest callback found it resolved and satisfied, else 跟踪回访中."""
    from .assignments import SATISFIED

    repeat = (cfg or policy.metrics()).repeat
    A = view(session, as_of).A
    out = []
    kinds: tuple[tuple[str, RepeatName, tuple, Callable], ...] = (
        ("caller", "same_phone", (Ticket.caller_phone,), repeated_callers),
        ("place", "same_address_category", (Ticket.address, Ticket.category_code), repeated_places))
    for kind, rule, columns, find in kinds:
        count, days = repeat_rule(repeat, rule)
        groups = find(session, as_of, count, days)
        if not groups:
            continue
        keys = [tuple(g[c.key] for c in columns) for g in groups]
        tickets: dict[tuple, list[dict]] = {}
        for row in _dicts(session.execute(   # every matter's tickets in one query
                select(*columns, Ticket.number, Ticket.category_code.label("ticket_category"), A.unit_code,
                       A.finished_at, A.satisfaction, A.resolved)
                .outerjoin(A, and_(A.ticket_id == Ticket.id, A.is_current.is_(True)))
                .where(tuple_(*columns).in_(keys), Ticket.received_at > as_of - timedelta(days=days),
                       Ticket.received_at <= as_of)
                .order_by(Ticket.received_at, Ticket.number))):
            tickets.setdefault(tuple(row[c.key] for c in columns), []).append(row)
        for group, key in zip(groups, keys, strict=True):
            rows = tickets[key]
            latest = rows[-1]
            closed = (all(r["finished_at"] is not None and r["finished_at"] <= as_of for r in rows)
                      and latest["resolved"] is True and latest["satisfaction"] in SATISFIED)
            out.append({"kind": kind, "caller_phone": group.get("caller_phone"), "address": group.get("address"),
                        "category_code": group.get("category_code") or latest["ticket_category"], "n": len(rows),
                        "numbers": [r["number"] for r in rows], "unit_code": latest["unit_code"],
                        "state": "已销号" if closed else "跟踪回访中"})
    return out


def repeat_rule(repeat: Repeat, name: RepeatName) -> tuple[int, int]:
    rule: RepeatRule = getattr(repeat, name)
    return rule.count, rule.days


def repeated_places(session: Session, as_of: datetime, count: int, days: int) -> list[dict]:
    since = as_of - timedelta(days=days)
    stmt = (select(Ticket.address, Ticket.category_code, func.count().label("n"))
            .where(Ticket.received_at > since, Ticket.received_at <= as_of, Ticket.address.is_not(None))
            .group_by(Ticket.address, Ticket.category_code).having(func.count() >= count)
            .order_by(func.count().desc(), Ticket.address))
    return _dicts(session.execute(stmt))


def recurring_problems(session: Session, period: Period, categories: set[str], count: int) -> list[dict]:
    """屡次不改: the same problem (address and 事项编码 among ``categories``) raised ``count`` times
    or more by tickets received in the period, with the units that held them."""
    in_codes = or_(literal(False), *[Ticket.category_code.startswith(c, autoescape=True) for c in sorted(categories)])
    stmt = (select(Ticket.address, Ticket.category_code, func.count(func.distinct(Ticket.id)).label("n"),
                   func.min(Ticket.received_at).label("first"), func.max(Ticket.received_at).label("last"))
            .where(Ticket.received_at >= period.start_at, Ticket.received_at < period.end_at,
                   Ticket.address.is_not(None), in_codes)
            .group_by(Ticket.address, Ticket.category_code).having(func.count(func.distinct(Ticket.id)) >= count)
            .order_by(func.count(func.distinct(Ticket.id)).desc(), Ticket.address))
    rows = _dicts(session.execute(stmt))
    units: dict[tuple[str | None, str], set[str]] = {}   # (address, category) → units
    A = view(session, period.end_at).A
    if rows:   # the units holding them: one query for all the problems
        key = tuple_(Ticket.address, Ticket.category_code)
        for address, code, unit in session.execute(
                select(Ticket.address, Ticket.category_code, A.unit_code).join(A, A.ticket_id == Ticket.id)
                .where(key.in_([(r["address"], r["category_code"]) for r in rows]), A.is_current.is_(True),
                       Ticket.received_at >= period.start_at, Ticket.received_at < period.end_at)):
            units.setdefault((address, code), set()).add(unit)
    for row in rows:
        row["units"] = sorted(units.get((row["address"], row["category_code"]), ()))
    return rows


def widespread(session: Session, period: Period, cfg: Metrics | None = None, until: datetime | None = None) -> list[dict]:
    """普遍性: categories handled by at least K units in the period, or spiking against the weeks
    before; ``until``: counting only what was dispatched by then (a week seen on one of its days)."""
    from .metrics import data_start

    rule = (cfg or policy.metrics()).widespread
    weeks = rule.spike_weeks
    span = period.end_at - period.start_at
    first = data_start(session)
    if first is not None and datetime.combine(first, datetime.min.time()) > period.start_at - span * weeks:
        # DOMAIN.md "Partial periods": only the spans before with complete data are a baseline.
        weeks = max(0, (period.start_at - datetime.combine(first, datetime.min.time())) // span)
    before = period.start_at - span * weeks
    end = min(period.end_at, until) if until else period.end_at
    A = view(session, end).A
    in_period = and_(A.dispatched_at >= period.start_at, A.dispatched_at < end)
    rows = session.execute(
        select(A.category_code, Category.name,
               func.count(func.distinct(case((in_period, A.unit_code)))).label("units"),
               func.sum(case((in_period, 1), else_=0)).label("volume"),
               func.sum(case((A.dispatched_at < period.start_at, 1), else_=0)).label("before"))
        .join(Category, Category.code == A.category_code, isouter=True)
        .where(A.is_current.is_(True), A.dispatched_at >= before, A.dispatched_at < end)
        .group_by(A.category_code, Category.name))
    out = []
    for code, name, units, volume, prior in rows:
        volume, baseline = int(volume or 0), int(prior or 0) / weeks if weeks else 0.0
        spike = bool(weeks) and volume >= rule.spike_min_volume and \
            volume >= rule.spike_factor * max(baseline, 1e-9)
        if units >= rule.min_units or spike:
            out.append({"code": code, "name": name or code, "units": units, "volume": volume,
                        "baseline": round(baseline, 1), "spike": spike})
    return sorted(out, key=lambda r: (-r["volume"], r["code"]))


def counts_by_unit(session: Session, as_of: datetime, since: datetime, horizon: datetime,
                   *scope) -> tuple[dict[str, dict], dict]:
    """Per unit: new since ``since``, open, warning, overdue, returned ≥ 2 — one grouped query
    (and one over the few tickets returned twice); and the district's totals, where a ticket
    returned by two units counts once.  ``scope``: conditions on the assignments (the console's).  ``open_at`` finds the rows; once found, each is classified
    by the plain definition (a few comparisons, not the forty of the index arms)."""
    A = view(session, as_of).A
    new = dispatched_between(A, since, as_of)
    is_open = _open_plain(A, as_of)
    s = lambda cond: func.sum(case((cond, 1), else_=0))
    rows = session.execute(
        select(A.unit_code, s(new), s(is_open),
               s(and_(is_open, due_within(A, as_of, horizon))),
               s(and_(is_open, past_due(A, as_of))))
        .where(or_(open_at(A, as_of), new), *scope)
        .group_by(A.unit_code))
    twice, twice_total = returned_twice_by_unit(session, as_of, *scope)
    out = {code: {"new": int(a or 0), "open": int(b or 0), "warning": int(c or 0), "overdue": int(d or 0),
                  "returned_twice": twice.get(code, 0)} for code, a, b, c, d in rows}
    for code, n in twice.items():
        out.setdefault(code, {"new": 0, "open": 0, "warning": 0, "overdue": 0, "returned_twice": n})
    totals = {k: sum(c[k] for c in out.values()) for k in ("new", "open", "warning", "overdue")}
    totals["returned_twice"] = twice_total
    return out, totals


# -- grading ------------------------------------------------------------------------------------
def graded_new(session: Session, since: datetime, as_of: datetime, levels: list[str]) -> list[dict]:
    """Tickets received in [since, as_of) graded at one of LEVELS (苗头性、倾向性、敏感性信息 for the
    daily sheet), highest level first, each with the rule that graded it and the unit holding it."""
    A = view(session, as_of).A
    order = case(*[(Ticket.severity == level, i) for i, level in enumerate(levels)], else_=len(levels))
    stmt = (select(Ticket.id.label("ticket_id"), Ticket.number, Ticket.content, Ticket.caller_name,
                   Ticket.caller_phone, Ticket.received_at, Ticket.severity, Ticket.grade_rule, A.unit_code)
            .outerjoin(A, and_(A.ticket_id == Ticket.id, A.is_current.is_(True)))
            .where(Ticket.received_at >= since, Ticket.received_at < as_of, Ticket.severity.in_(levels))
            .order_by(order, Ticket.received_at, Ticket.number))
    return _dicts(session.execute(stmt))
