"""The red / orange / yellow triage of tourism law-enforcement clues (涉旅行政执法问题线索“红橙黄”三色
研判处置, seed 002), as the rule set ``tourism_triage`` of config/metrics.yaml.

A law-enforcement ticket is a tourism clue when its 事项编码 is flagged ``tourism`` in the directory
or its text names the trade (``keywords``).  Its score adds the configured weights of what makes
it urgent — a focus problem (``focus_keywords``: 虚假宣传、短斤少两、黄牛揽客), received on a public
holiday (the calendar's 法定节假日) or in the peak season (``peak_season`` month-day ranges), the
same address and problem raised again (``repeat``) — and its level is the first of ``levels``
whose threshold the score reaches.  Other tickets have no level."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .policy_schema import TourismTriage, TriageCheck


@dataclass(frozen=True)
class Triage:
    level: str          # 红 / 橙 / 黄
    reasons: list[str]

    @property
    def text(self) -> str:
        return f"{self.level}色" + (f"（{'、'.join(self.reasons)}）" if self.reasons else "")


def _in_season(day: date, ranges: list[str]) -> bool:
    key = f"{day:%m-%d}"
    for spec in ranges:
        start, _, end = spec.partition("..")
        if start <= key <= (end or start):
            return True
    return False


def triage(ticket: dict, cfg: TourismTriage | None, tourism_codes: set[str], holidays: frozenset[date],
           repeated: set[tuple[str, str]]) -> Triage | None:
    """The level of one ticket (``content``, ``category_code``, ``received_at``, ``address``), or
    None when it is not a tourism clue or no rule set is configured."""
    if cfg is None:
        return None
    content = ticket.get("content") or ""
    is_clue = ticket["category_code"] in tourism_codes or any(k in content for k in cfg.keywords)
    if not is_clue:
        return None
    day = ticket["received_at"].date()
    reasons, score = [], 0
    focus = [k for k in cfg.focus_keywords if k in content]
    checks: list[tuple[TriageCheck, bool, str]] = [("focus", bool(focus), f"重点问题：{'、'.join(focus)}"),
              ("holiday", day in holidays, "重要节假日"),
              ("peak_season", _in_season(day, cfg.peak_season), "旅游旺季"),
              ("repeat", (ticket.get("address"), ticket["category_code"]) in repeated, "同一问题重复反映")]
    for name, hit, reason in checks:
        if hit and cfg.weights.get(name, 0):
            score += cfg.weights[name]
            reasons.append(reason)
    level = next(name for name, threshold in sorted(cfg.levels.items(), key=lambda kv: -kv[1]) if score >= threshold)
    return Triage(level, reasons)
