"""The policy files' schema: every value checked at load, each problem with the file and the line of
its key, and the closest valid name for a misspelt one (``config/metrics.yaml``,
``config/escalation.yaml``, ``config/documents.yaml``, ``config/alerts.yaml``; ``rules.yaml`` is checked
by ``worker.rules``, ``schedules.yaml`` by ``worker.schedules``)."""
from __future__ import annotations

from pathlib import Path

import yaml

from .config import ConfigError
from .schedules import _LineLoader, suggest

RATES = {"response_rate", "resolution_rate", "satisfaction_rate", "timeliness_rate"}
METRICS_KEYS = {"requirement", "bottom", "weights", "ranked_unit_kinds", "min_callbacks_to_fail", "dual_rates",
                "warning_working_days", "repeat", "widespread", "hot_categories", "typical_cases",
                "law_enforcement_codes", "grading", "rating", "supervision"}


class _Check:
    def __init__(self, path: Path):
        self.path, self.problems = path, []

    def at(self, mapping: dict, key: str) -> str:
        lines = mapping.get("__lines__", {}) if isinstance(mapping, dict) else {}
        return f"{self.path}:{lines.get(key, mapping.get('__line__', 1) if isinstance(mapping, dict) else 1)}"

    def fail(self, mapping, key, message):
        self.problems.append(f"{self.at(mapping, key)}: {key}: {message}")

    def keys(self, mapping: dict, known: set[str], where: str = ""):
        for key in mapping:
            if key not in known and not key.startswith("__"):
                self.problems.append(f"{self.at(mapping, key)}: {where}unknown key {key!r}{suggest(key, known)}")

    def number(self, mapping: dict, key: str, lo: float | None = None, hi: float | None = None, whole=False):
        if key not in mapping:
            return None
        value = mapping[key]
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            self.fail(mapping, key, f"expected {'a whole number' if whole else 'a number'}"
                                    f"{' such as 0.90' if not whole and hi == 1 else ''}, not {value!r}")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(mapping, key, f"{value} is outside {lo} to {hi}")
            return None
        return value

    def choice(self, mapping: dict, key: str, allowed: set[str]):
        if key in mapping and mapping[key] not in allowed:
            self.fail(mapping, key, f"must be one of {', '.join(sorted(allowed))}, not {mapping[key]!r}"
                                    f"{suggest(mapping[key], allowed)}")

    def weights(self, mapping: dict, key: str):
        w = mapping.get(key)
        if w is None:
            return
        if not isinstance(w, dict):
            self.fail(mapping, key, "expected a mapping of rate → weight")
            return
        self.keys(w, RATES, f"{key}: ")
        values = [self.number(w, k, 0, 1) for k in w if not k.startswith("__")]
        if all(v is not None for v in values) and values and abs(sum(values) - 1) > 0.001:
            self.fail(mapping, key, f"the weights add up to {sum(values):g}; they must add up to 1")


def _load(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML "
                          f"({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def check_metrics(path: Path) -> list[str]:
    data, c = _load(path), _Check(path)
    c.keys(data, METRICS_KEYS)
    req = data.get("requirement") or {}
    c.keys(req, {"resolution_rate", "satisfaction_rate"}, "requirement: ")
    for k in ("resolution_rate", "satisfaction_rate"):
        c.number(req, k, 0, 1)
    bottom = data.get("bottom") or {}
    c.keys(bottom, {"mode", "value"}, "bottom: ")
    c.choice(bottom, "mode", {"count", "percent"})
    c.number(bottom, "value", 0, 100)
    c.weights(data, "weights")
    c.choice(data, "dual_rates", {"final", "first"})
    for k in ("min_callbacks_to_fail", "warning_working_days", "hot_categories", "typical_cases"):
        c.number(data, k, 0, None, whole=True)
    rating = data.get("rating") or {}
    c.keys(rating, {"weights", "A", "B", "C"}, "rating: ")
    c.weights(rating, "weights")
    grades = [c.number(rating, g, 0, 1) for g in ("A", "B", "C")]
    if all(g is not None for g in grades) and grades and not grades[0] >= grades[1] >= grades[2]:
        c.fail(rating, "C", "the thresholds must fall from A to B to C")
    supervision = data.get("supervision") or {}
    c.keys(supervision, {"overdue", "unresolved_requires_unsatisfied", "act_within_working_days"}, "supervision: ")
    c.number(supervision, "act_within_working_days", 0, 30, whole=True)
    return c.problems


def check_escalation(path: Path) -> list[str]:
    data, c = _load(path), _Check(path)
    c.keys(data, {"tiers", "meeting_defaults"})
    names = []
    for tier in data.get("tiers") or []:
        c.keys(tier, {"name", "label", "after", "title", "decision", "meeting", "materials_working_days",
                      "recipients", "cc", "public_exposure", "requires", "interviewer", "action"}, "tiers: ")
        after = tier.get("after") or {}
        if len([k for k in after if not k.startswith("__")]) != 1 or not ({"weeks", "months"} & set(after)):
            c.fail(tier, "after", "expected {weeks: N} or {months: N}")
        if tier.get("requires") and tier["requires"] not in names:
            c.fail(tier, "requires", f"{tier['requires']!r} is not a tier listed before it{suggest(tier['requires'], names)}")
        names.append(tier.get("name"))
    return c.problems


def check_documents(path: Path) -> list[str]:
    data, c = _load(path), _Check(path)
    c.keys(data, {"district", "issuers", "kinds", "short", "contact", "fonts"})
    issuers = set(data.get("issuers") or {})
    for kind, spec in (data.get("kinds") or {}).items():
        if kind.startswith("__") or not isinstance(spec, dict):
            continue
        c.keys(spec, {"issuer", "number_prefix", "cc", "printer"}, f"kinds.{kind}: ")
        if spec.get("issuer", "centre") not in issuers:
            c.fail(spec, "issuer", f"{spec.get('issuer')!r} is not one of issuers{suggest(spec.get('issuer'), issuers)}")
    for role, spec in (data.get("fonts") or {}).items():
        if not role.startswith("__") and isinstance(spec, dict):
            c.choice(spec, "weight", {"regular", "bold"})
    return c.problems


def check_alerts(path: Path) -> list[str]:
    data, c = _load(path), _Check(path)
    c.keys(data, {"default", "owners", "queued_minutes", "outbox_backlog_minutes", "calendar_days"})
    if not isinstance(data.get("default", []), list):
        c.fail(data, "default", "expected a list of e-mail addresses")
    for k in ("queued_minutes", "outbox_backlog_minutes", "calendar_days"):
        c.number(data, k, 1, None, whole=True)
    return c.problems


CHECKS = {"metrics": check_metrics, "escalation": check_escalation, "documents": check_documents,
          "alerts": check_alerts}


def check(name: str, path: Path) -> None:
    """Raise ``ConfigError`` listing every problem of a policy file, each with its line."""
    if name in CHECKS:
        problems = CHECKS[name](path)
        if problems:
            raise ConfigError("\n".join(problems))
