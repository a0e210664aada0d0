"""分级研判 (seed 003): every ticket's severity (敏感 / 重大 / 一般) and class (A 普遍性, B 反复性,
C 典型性) by the rules of ``grading`` in config/metrics.yaml, as UPDATEs over the tickets received
in a window, as of a moment.

Severity goes by what a ticket says and how often its matter recurs, never by its category alone:
the first rule that matches wins, a rule matching when any of its criteria does —

- ``keywords``: the content names one of them;
- ``min_people``: the content states at least that many people (「30名」「三十余名」「十几户」: a
  number in digits or in words, before 名、人、户、家 or 位; 人民币 is not people);
- ``min_amount_yuan``: the content states at least that many yuan (「12万元」「3000元」「欠款30万」
  「上百万」「两百万元」: a number in digits or in words, with 万 or 亿, or followed by 元);
- ``repeat``: the ticket belongs to a repeated matter of ``repeat`` (same caller, or same address
  and 事项编码, ``count`` times within ``days``) as of the moment;
- ``categories`` / ``urgent_kinds``: by the directory (available; not used by the shipped rules).

Each ticket keeps the rule and what matched (「安全风险（泄漏）」「涉及人数众多（30名）」) in
``grade_rule``: the daily sheet prints it as 研判依据.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from .config import policy
from .db import rowcount
from .models import Ticket
from .policy_schema import Metrics, RepeatName

# A number in digits, or in words (三十, 二十五, 两百, 一千二百; a bare 十/百/千 as in 上百万): read
# whole, so that 「三十余名」 is thirty people and quoted as the ticket says it, never 「十余名」.
_NUMBER = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十百千]*[十百千][一二三四五六七八九]?|[一二两三四五六七八九])"
_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)} | {"两": 2}
_WORDS = {"十": 10, "百": 100, "千": 1000}
_UNITS = {"万": 10_000, "亿": 100_000_000}
PEOPLE = re.compile(_NUMBER + r"[余多来几]?(名|人(?!民)|户|家|位)")
AMOUNT = re.compile(_NUMBER + r"[余多]?([万亿])?[余多]?(元)?")
# The same shapes for the database to pick the few tickets worth reading (POSIX and Python alike).
_PEOPLE_SQL = "[0-9０-９一二两三四五六七八九十百千][余多来几]?(名|人|户|家|位)"
_AMOUNT_SQL = "[0-9０-９一二两三四五六七八九十百千][余多]?(万|亿|元)"


def _number(text: str) -> float:
    """The value of a number in digits or in Chinese words (十 alone is ten, 三十五 thirty-five)."""
    if text[0] not in _DIGITS and text[0] not in _WORDS:
        return float(text)
    total, digit = 0, None
    for char in text:
        if char in _WORDS:
            total += (1 if digit is None else digit) * _WORDS[char]
            digit = None
        else:
            digit = _DIGITS[char]
    return float(total + (digit or 0))


def people(content: str | None) -> tuple[float, str] | None:
    """The largest number of people the content states, with the words stating it."""
    found = [(_number(m.group(1)), m.group(0)) for m in PEOPLE.finditer(content or "")]
    return max(found, key=lambda f: f[0]) if found else None


def amount_yuan(content: str | None) -> tuple[float, str] | None:
    """The largest sum of money (yuan) the content states, with the words stating it."""
    found = [(_number(m.group(1)) * _UNITS.get(m.group(2) or "", 1), m.group(0))
             for m in AMOUNT.finditer(content or "") if m.group(2) or m.group(3)]
    return max(found, key=lambda f: f[0]) if found else None


def grade(session: Session, since: datetime, as_of: datetime, cfg: Metrics | None = None) -> int:
    """Grade the tickets received in [since, as_of] as of ``as_of``: each ticket's severity and basis
    by the first matching rule (and within it the first matching criterion), its class likewise.
    One UPDATE, writing only the tickets whose grade changes: the window holds the repeat rules'
    30 days of tickets, nearly all graded the same as the day before.  Returns how many changed."""
    from .detection import repeat_rule, repeated_callers, repeated_places, widespread
    from .periods import containing

    cfg = cfg or policy.metrics()
    rules = cfg.grading

    def repeated(name: RepeatName):
        count, days = repeat_rule(cfg.repeat, name)
        if name == "same_phone":
            phones = [r["caller_phone"] for r in repeated_callers(session, as_of, count, days)]
            return Ticket.caller_phone.in_(phones), f"同一来电人{days}日内来电{count}次以上"
        places = [(p["address"], p["category_code"]) for p in repeated_places(session, as_of, count, days)]
        return (tuple_(Ticket.address, Ticket.category_code).in_(places) if places else literal(False),
                f"同一地址同类事项{days}日内{count}次以上")

    def stated(find, pattern: str, least: int) -> dict[int, str]:
        """The tickets whose content states at least ``least``, with the words stating it: the
        database picks those stating any number of the kind, Python reads the number."""
        basis = {}
        for ticket_id, content in session.execute(select(Ticket.id, Ticket.content)
                                                  .where(scope, Ticket.content.regexp_match(pattern))):
            hit = find(content)
            if hit and hit[0] >= least:
                basis[ticket_id] = hit[1]
        return basis

    scope = and_(Ticket.received_at >= since, Ticket.received_at <= as_of)
    # (condition, level, basis), in the order of the rules: the first that holds wins
    severity: list[tuple[ColumnElement[bool], str, ColumnElement[str]]] = []
    for rule in rules.severity:
        name, level = rule.name, rule.level
        criteria = [k for k in ("keywords", "min_people", "min_amount_yuan", "repeat", "categories", "urgent_kinds")
                    if getattr(rule, k)]
        if not criteria:
            severity.append((literal(True), level, literal(name)))
        for key in criteria:
            value = getattr(rule, key)
            if key == "keywords":
                hits = [(Ticket.content.contains(k, autoescape=True), f"{name}（{k}）") for k in value]
                severity.append((or_(*(c for c, _ in hits)), level, case(*hits, else_=literal(name))))
            elif key in ("min_people", "min_amount_yuan"):
                find, pattern = (people, _PEOPLE_SQL) if key == "min_people" else (amount_yuan, _AMOUNT_SQL)
                basis = stated(find, pattern, int(value))
                if basis:   # written into the statement, not bound: thousands of tickets at a city's scale
                    ids: BindParameter[list[int]] = bindparam(None, list(basis), expanding=True, literal_execute=True)
                    severity.append((Ticket.id.in_(ids), level, case(
                        {literal(i, literal_execute=True): literal(f"{name}（{b}）", literal_execute=True)
                         for i, b in basis.items()}, value=Ticket.id)))
            elif key == "repeat":
                for repeat_name in value:
                    cond, text = repeated(repeat_name)
                    severity.append((cond, level, literal(f"{name}（{text}）")))
            elif key == "categories":
                severity.append((or_(*[Ticket.category_code.startswith(str(c), autoescape=True) for c in value]),
                                 level, literal(name)))
            else:
                severity.append((Ticket.urgent_kind.in_(value), level, literal(name)))
    classes = []
    for class_rule in rules.class_:
        cond = literal(True)
        if class_rule.repeat:
            cond, _text = repeated(class_rule.repeat)
        elif class_rule.widespread:
            cond = Ticket.category_code.in_([w["code"] for w in widespread(session, containing("week", as_of), cfg)])
        classes.append((cond, class_rule.class_))

    def first(whens, otherwise):   # a ticket no rule matches keeps what it has
        return case(*whens, else_=otherwise) if whens else otherwise

    values = {"severity": first([(c, literal(level)) for c, level, _ in severity], Ticket.severity),
              "grade_rule": first([(c, b) for c, _, b in severity], Ticket.grade_rule),
              "grade_class": first([(c, literal(k)) for c, k in classes], Ticket.grade_class)}
    changed = or_(*(getattr(Ticket, column).is_distinct_from(value) for column, value in values.items()))
    res = session.execute(update(Ticket).where(scope, changed).values(**values)
                          .execution_options(synchronize_session=False))
    return rowcount(res)


def repeat_window(cfg: Metrics | None = None) -> timedelta:
    """How far back the daily grading reaches: the longest ``repeat`` window, so that a matter
    becoming repeated today grades its earlier tickets too."""
    return timedelta(days=max(rule.days for _name, rule in (cfg or policy.metrics()).repeat))
