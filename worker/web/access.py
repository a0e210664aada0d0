"""Who is looking, and what they may see.

A console login (``ConsoleUser``) is an e-mail address; the directory says who that is.  Scope by
directory role (union over the person's entries):

- 热线中心 (hotline_center): every unit, callers shown unmasked (the centre holds the originals);
- 区政府主要领导、区人大、分析研判小组: every unit, callers masked;
- 分管领导 (leader_in_charge): the units they oversee;  单位负责人 / 联络员: their own unit;
- 司法局 (justice_bureau): law-enforcement tickets (涉行政执法) of every unit, and the documents
  made for it;
- operations (the console's own role, ``ConsoleUser.operations``): every unit, masked, and the
  actions of the runs page (re-run, hold, release, retry).

A login the directory does not know, and that is not operations, sees nothing (it is refused).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from ..config import policy
from ..models import Assignment, ConsoleAction, ConsoleUser, LoginAttempt, Oversight, Person, Role
from ..policy_schema import Console
from ..times import now_local
from ..vocabulary import ROLE_LABELS

_hasher = PasswordHasher()   # argon2id with the library's current defaults (RFC 9106 low-memory)

DISTRICT_WIDE = {Role.PRINCIPAL_LEADER.value, Role.PEOPLES_CONGRESS.value, Role.ANALYSIS_GROUP.value}


@dataclass(frozen=True)
class Viewer:
    email: str
    name: str
    roles: tuple[str, ...]
    units: frozenset[str] | None      # None: every unit
    law_only: bool                    # only law-enforcement tickets (the justice bureau)
    unmasked: bool                    # callers' names and phones shown as recorded
    operations: bool

    @property
    def label(self) -> str:
        return "、".join(ROLE_LABELS.get(r, r) for r in self.roles)

    @property
    def district_wide(self) -> bool:
        return self.units is None and not self.law_only

    def sees_unit(self, code: str) -> bool:
        return self.units is None or code in self.units

    def assignment_scope(self, a=Assignment) -> list:
        """The conditions every ticket query of this viewer adds (on ``Assignment`` or an alias)."""
        where = []
        if self.units is not None:
            where.append(a.unit_code.in_(sorted(self.units)) if self.units else false())
        if self.law_only:
            where.append(a.law_enforcement.is_(True))
        return where


def viewer_for(session: Session, user: ConsoleUser) -> Viewer | None:
    """The viewer a login is, from the directory; None when it may see nothing."""
    people = session.scalars(select(Person).where(Person.email == user.email).order_by(Person.id)).all()
    roles = [p.role for p in people] + (["operations"] if user.operations else [])
    if not roles:
        return None
    everything = any(r in DISTRICT_WIDE or r in ("hotline_center", "operations") for r in roles)
    units: set[str] = set()
    for p in people:
        if p.role in ("unit_head", "liaison") and p.unit_code:
            units.add(p.unit_code)
        elif p.role == "leader_in_charge":
            units.update(session.scalars(select(Oversight.unit_code).where(Oversight.person_id == p.id)))
    law_only = not everything and not units and "justice_bureau" in roles
    if not everything and not units and not law_only:
        return None
    return Viewer(email=user.email, name=people[0].name if people else user.email, roles=tuple(dict.fromkeys(roles)),
                  units=None if everything or law_only else frozenset(units), law_only=law_only,
                  unmasked="hotline_center" in roles, operations=user.operations)


# -- passwords and logins ---------------------------------------------------------------------------
def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a console password has at least 10 characters")
    return _hasher.hash(password)


def authenticate(session: Session, email: str, password: str, address: str) -> tuple[ConsoleUser | None, str]:
    """(user, "") on success, else (None, why).  The answer and its cost are the same whether the
    login exists or not: one argon2 verification in every case (a throttled attempt or an unknown
    login verifies against a hash of nobody's), one of two messages (wrong, or too many attempts).

    Throttle (config/console.yaml, counted over the last ``lock_minutes`` on the real clock, never
    the console's ``--as-of``):
    - an address with ``lock_address_after_failures`` failures, whatever the logins, is refused;
    - a login with ``lock_after_failures`` failures is refused — counted per *kind* of address: from
      an address where this login signed in within ``known_address_days`` (its own workstation)
      only that address's failures count; from any other address the failures of all such other
      addresses count.  So hammering a login from elsewhere locks it out of new places for a while,
      never out of the desk its owner uses (docs/console.md "Sign-in throttle").
    Every attempt is stored (``LoginAttempt``), known login or not."""
    now = now_local()   # the real clock: a lock lifts in real time, whatever the pages' moment
    email = email.strip().lower()[:200]
    address = (address or "-")[:64]
    cfg = policy.console()
    since = now - timedelta(minutes=cfg.lock_minutes)
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first()
    throttled = _throttled(session, email, address, since, now, cfg)
    digest = user.password_hash if user is not None and not user.disabled and not throttled else None
    ok = _verify(digest or None, password)
    outcome = "ok" if ok else ("throttled" if throttled else "wrong")
    session.add(LoginAttempt(at=now, login=email, address=address, outcome=outcome))
    if not ok:
        if throttled:
            return None, f"登录尝试过多，请 {cfg.lock_minutes} 分钟后再试"
        return None, "账号或密码不正确"
    assert user is not None and digest is not None   # ok: verified against this user's hash
    if _hasher.check_needs_rehash(digest):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    record(session, email, "login", address, "ok")
    return user, ""


def _throttled(session: Session, email: str, address: str, since: datetime, now: datetime, cfg: Console) -> bool:
    def failures(*where) -> int:
        return session.scalar(select(func.count()).select_from(LoginAttempt)
                              .where(LoginAttempt.at >= since, LoginAttempt.outcome != "ok", *where)) or 0

    if failures(LoginAttempt.address == address) >= cfg.lock_address_after_failures:
        return True
    known = select(LoginAttempt.address).where(
        LoginAttempt.login == email, LoginAttempt.outcome == "ok",
        LoginAttempt.at >= now - timedelta(days=cfg.known_address_days))
    if session.scalar(known.where(LoginAttempt.address == address).limit(1)) is not None:
        return failures(LoginAttempt.login == email, LoginAttempt.address == address) >= cfg.lock_after_failures
    return failures(LoginAttempt.login == email, LoginAttempt.address.not_in(known)) >= cfg.lock_after_failures


_BURN = _hasher.hash("not a password of anyone")


def _verify(digest: str | None, password: str) -> bool:
    """One argon2 verification, against ``digest`` or (None) a hash of nobody's: the same time."""
    try:
        _hasher.verify(digest or _BURN, password)
    except (VerificationError, InvalidHashError):
        return False
    return digest is not None


def end_sessions(user: ConsoleUser) -> None:
    """Every session cookie of this login stops opening pages (sign-out, password, disable, enable)."""
    user.session_version = (user.session_version or 0) + 1


def record(session: Session, email: str, action: str, target: str, result: str) -> None:
    """The console's audit trail: who did what, when, and what came of it."""
    session.add(ConsoleAction(at=now_local(), user_email=email, action=action, target=target[:100], result=result))

