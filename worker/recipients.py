"""Recipients resolved from the directory by role.

Schedules name recipient *groups*; a group is a role (``hotline_center``, ``justice_bureau``,
``principal_leader``, ``peoples_congress``, ``analysis_group``) or a per-unit role
(``unit_head``, ``liaison``, ``leader_in_charge`` — the leader who oversees the unit).
A person without an e-mail address is returned in ``missing`` so the run reports it; nobody is
dropped silently.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from .addresses import AddressError, validate_address
from .models import Oversight, Person, Role

GROUPS = {r.value for r in Role} | {"unit_heads", "leaders_in_charge", "liaisons"}
PER_UNIT = {"unit_head", "liaison", "leader_in_charge"}


@dataclass
class Recipients:
    people: list[Person] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, person: Person, why: str) -> None:
        if not person.email:
            self.missing.append(f"{person.name} ({why}) has no e-mail address")
            return
        try:
            validate_address(person.email)   # stored before the directory checked addresses
        except AddressError as exc:
            self.missing.append(f"{person.name} ({why}): {exc}")
            return
        if all(p.email != person.email for p in self.people):
            self.people.append(person)


def people_of(session: Session, group: str, unit_code: str | None = None) -> tuple[str, Sequence[Person]]:
    """(role, the directory's people of GROUP): of the unit for a per-unit role (its leader in charge
    by oversight), everyone holding the role otherwise; with or without an e-mail address."""
    role = {"unit_heads": "unit_head", "leaders_in_charge": "leader_in_charge", "liaisons": "liaison"}.get(group, group)
    if role in PER_UNIT and unit_code is not None:
        if role == "leader_in_charge":
            return role, session.scalars(select(Person).join(Oversight, Oversight.person_id == Person.id)
                                         .where(Oversight.unit_code == unit_code, Person.role == role)
                                         .order_by(Person.id)).all()
        return role, session.scalars(select(Person).where(Person.role == role, Person.unit_code == unit_code)
                                     .order_by(Person.id)).all()
    return role, session.scalars(select(Person).where(Person.role == role).order_by(Person.id)).all()


def resolve(session: Session, groups: list[str], unit_code: str | None = None) -> Recipients:
    out = Recipients()
    for group in groups:
        role, people = people_of(session, group, unit_code)
        if not people:
            out.missing.append(f"no {role} recorded for unit {unit_code}" if role in PER_UNIT and unit_code is not None
                               else f"nobody with the role {role} in the directory")
        for p in people:
            out.add(p, role)
    return out


def directory_gaps(session: Session) -> list[str]:
    """Units without a head's e-mail, roles nobody holds, addresses that are not deliverable: what
    ``hotline doctor`` reports."""
    from .models import Unit

    gaps = []
    heads = {p.unit_code: p for p in session.scalars(select(Person).where(Person.role == "unit_head"))}
    for unit in session.scalars(select(Unit).where(Unit.kind.in_(("department", "territorial")), Unit.active.is_(True))
                                .order_by(Unit.code)):
        head = heads.get(unit.code)
        if head is None:
            gaps.append(f"unit {unit.code} {unit.name}: no unit head in the directory")
        elif not head.email:
            gaps.append(f"unit {unit.code} {unit.name}: the unit head {head.name} has no e-mail address")
        overseen = session.scalar(select(Oversight.person_id).where(Oversight.unit_code == unit.code).limit(1))
        if overseen is None:
            gaps.append(f"unit {unit.code} {unit.name}: no leader in charge oversees it")
        if session.scalar(select(Person.id).where(Person.role == "liaison", Person.unit_code == unit.code,
                                                  Person.email.is_not(None)).limit(1)) is None:
            gaps.append(f"unit {unit.code} {unit.name}: no liaison with an e-mail address (its daily list cannot go)")
    for leader in session.scalars(select(Person).where(Person.role == "leader_in_charge", Person.email.is_(None))):
        gaps.append(f"leader in charge {leader.name}: no e-mail address (the weekly digest cannot go)")
    for role in ("hotline_center", "justice_bureau", "principal_leader", "peoples_congress", "district_committee",
                 "analysis_group"):
        if session.scalar(select(Person.id).where(Person.role == role, Person.email.is_not(None)).limit(1)) is None:
            gaps.append(f"nobody with an e-mail address holds the role {role}")
    for person in session.scalars(select(Person).where(Person.email.is_not(None)).order_by(Person.id)):
        try:
            validate_address(person.email)
        except AddressError as exc:
            gaps.append(f"{person.role} {person.name}: {exc} (nothing is sent to it)")
    return gaps
