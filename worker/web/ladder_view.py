"""Each unit's place on the escalation ladder at a moment, as the console shows it.

The adapter to the one ladder state machine (``worker.ladder.ladder_at``, the lead's): until it is
in main this reads ``worker.supervision.ladder_states`` for the last complete week at ``at`` and
returns the same shape, so switching is the one import in ``ladder_at``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Tier:
    name: str
    label: str
    fired_at: datetime | None
    number: str | None          # the notice's 发文字号, when known


@dataclass(frozen=True)
class UnitLadder:
    unit_code: str
    weekly_streak: int
    run_started: str | None     # the first failing week of the run (period key)
    tier: Tier | None           # the tier in force at the moment
    next_step: str | None       # what the next failing week or month would bring


def ladder_at(session, at: datetime, units: list[str] | None = None) -> dict[str, UnitLadder]:
    from ..periods import containing
    from ..supervision import ladder_states

    out = {}
    for code, st in ladder_states(session, containing("week", at).previous(), units=units).items():
        tier = Tier(st.tier_label, st.tier_label, st.tier_since, None) if st.tier_label else None
        out[code] = UnitLadder(code, st.streak, st.run_started, tier, st.next_tier)
    return out
