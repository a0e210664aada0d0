"""The district directory: units, people and categories, loaded from YAML (or CSV per section).

Loading is an upsert by natural key (unit code, category code, person name+role+unit), in one
transaction: a file with any error changes nothing.
"""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .addresses import AddressError, validate_address
from .config import ConfigError, read_yaml
from .models import Category, Oversight, Person, Role, Unit, UnitKind

UNIT_KINDS = {k.value for k in UnitKind}
ROLES = {r.value for r in Role}
URGENT_KINDS = {"policy", "livelihood", "safety"}


def _read(path: Path) -> dict:
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        section = "people" if "role" in (rows[0] if rows else {}) else (
            "categories" if "law_enforcement" in (rows[0] if rows else {}) else "units")
        for row in rows:
            if "oversees" in row:
                row["oversees"] = [c for c in (row["oversees"] or "").split(";") if c]
            for flag in ("law_enforcement", "tourism", "should_handle", "active"):
                if flag in row:
                    row[flag] = str(row[flag]).strip().lower() in ("1", "true", "yes", "是")
        return {section: rows}
    return read_yaml(path)


def _need(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if value in (None, ""):
        raise ConfigError(f"{where}: '{key}' is missing")
    return str(value).strip()


def load_directory(session: Session, path: Path | str) -> dict[str, int]:
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        from .policy_schema import check
        check("directory", path)   # types and keys, each problem on its line (worker.schema)
    data = _read(path)
    unknown = set(data) - {"district", "units", "people", "categories"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}")
    counts = {"units": 0, "people": 0, "categories": 0}
    units = {u.code: u for u in session.scalars(select(Unit))}
    for i, item in enumerate(data.get("units") or [], 1):
        where = f"{path}: units[{i}]"
        code, name, kind = _need(item, "code", where), _need(item, "name", where), _need(item, "kind", where)
        if kind not in UNIT_KINDS:
            raise ConfigError(f"{where}: kind {kind!r} is not one of {sorted(UNIT_KINDS)}")
        unit = units.get(code) or Unit(code=code)
        unit.name, unit.kind, unit.parent_code = name, kind, item.get("parent")
        unit.active = bool(item.get("active", True))
        session.add(unit)
        units[code] = unit
        counts["units"] += 1
    for i, item in enumerate(data.get("categories") or [], 1):
        where = f"{path}: categories[{i}]"
        code = _need(item, "code", where)
        urgent = item.get("urgent_kind") or None
        if urgent and urgent not in URGENT_KINDS:
            raise ConfigError(f"{where}: urgent_kind {urgent!r} is not one of {sorted(URGENT_KINDS)}")
        cat = session.get(Category, code) or Category(code=code)
        cat.name = _need(item, "name", where)
        cat.law_enforcement = bool(item.get("law_enforcement", False))
        cat.urgent_kind, cat.tourism = urgent, bool(item.get("tourism", False))
        cat.should_handle = bool(item.get("should_handle", True))
        session.add(cat)
        counts["categories"] += 1
    for i, item in enumerate(data.get("people") or [], 1):
        where = f"{path}:{i + 1}" if path.suffix.lower() == ".csv" else f"{path}: people[{i}]"
        name, role = _need(item, "name", where), _need(item, "role", where)
        if role not in ROLES:
            raise ConfigError(f"{where}: role {role!r} is not one of {sorted(ROLES)}")
        unit_code = item.get("unit")
        if unit_code and unit_code not in units:
            raise ConfigError(f"{where}: unit {unit_code!r} is not in the directory")
        email = item.get("email") or None
        if email is not None:
            try:
                email = validate_address(email)
            except AddressError as exc:
                raise ConfigError(f"{where}: email: {exc}") from None
        if any(c in name for c in "\r\n"):
            raise ConfigError(f"{where}: the name contains a line break")
        person = session.scalars(select(Person).filter_by(name=name, role=role, unit_code=unit_code)).first()
        person = person or Person(name=name, role=role, unit_code=unit_code)
        person.email, person.title = email, item.get("title")
        session.add(person)
        session.flush()
        session.execute(delete(Oversight).where(Oversight.person_id == person.id))
        for code in item.get("oversees") or []:
            if code not in units:
                raise ConfigError(f"{where}: oversees unknown unit {code!r}")
            session.add(Oversight(person_id=person.id, unit_code=code))
        counts["people"] += 1
    session.flush()
    return counts
