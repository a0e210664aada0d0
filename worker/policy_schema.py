"""The policy files' schemas (pydantic, through ``worker.schema``): every value checked at load, each
problem with the file and the line of its key, and the closest valid name for a misspelt one.

``check(name, path)`` validates ``config/<name>.yaml`` (metrics, escalation, documents, alerts,
rules); ``calendar.yaml`` and the directory file have their models here too.  Callers: the loader
of each file (``config.policy``, ``rules.load_rules``, ``calendar``, ``directory``), ``hotline doctor``
and the scheduler's reload.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from .addresses import AddressError, validate_address
from .errors import ConfigError
from .schema import Strict, load_yaml, plain, problems

M = TypeVar("M", bound=Strict)
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]


def _address(value: str) -> str:
    try:
        return validate_address(value)
    except AddressError as exc:
        raise ValueError(str(exc)) from None


Address = Annotated[str, AfterValidator(_address)]   # one deliverable e-mail address (worker.addresses)


def _adds_to_one(weights: dict[str, float | None]) -> None:
    given = [w for w in weights.values() if w is not None]
    if given and abs(sum(given) - 1) > 0.001:
        raise ValueError(f"the weights add up to {sum(given):g}; they must add up to 1")


class Weights(Strict):
    # The score adds the weights in this order (``given``): the shipped files' order, so that a
    # score's last digit, and a tie at a threshold, stay what they were.
    timeliness_rate: Share | None = None
    response_rate: Share | None = None
    resolution_rate: Share | None = None
    satisfaction_rate: Share | None = None

    def given(self) -> dict[str, float]:
        """The rates weighted, each with its weight."""
        return {name: w for name, w in self.model_dump().items() if w is not None}

    @model_validator(mode="after")
    def _sum(self):
        _adds_to_one(self.model_dump())
        return self


class Requirement(Strict):
    resolution_rate: Share = 0.9
    satisfaction_rate: Share = 0.9


class Bottom(Strict):
    mode: Literal["count", "percent"] = "count"
    value: Annotated[float, Field(gt=0, le=100)] = 5


class Rating(Strict):
    weights: Weights = Field(default_factory=lambda: Weights(timeliness_rate=0.2, resolution_rate=0.4,
                                                             satisfaction_rate=0.4))
    A: Share = 0.95
    B: Share = 0.9
    C: Share = 0.8

    @model_validator(mode="after")
    def _order(self):
        if not self.A >= self.B >= self.C:
            raise ValueError("the thresholds must fall from A to B to C")
        return self


class SupervisionAnswers(Strict):
    """What a unit's 整改 answer to a 督办函 may carry (the console's form, ``worker.closeout``)."""
    max_chars: Annotated[int, Field(ge=20, le=20000)] = 2000
    file_types: list[str] = Field(default_factory=lambda: ["pdf", "docx", "xlsx", "jpg", "png"])
    file_max_mb: Annotated[int, Field(ge=1, le=100)] = 10


class Supervision(Strict):
    overdue: bool = True
    unresolved_requires_unsatisfied: bool = True
    act_within_working_days: Annotated[int, Field(ge=0, le=30)] = 1
    answers: SupervisionAnswers = Field(default_factory=SupervisionAnswers)


class Adjustment(Strict):
    """One 扣分项 (negative points) or 加分项 (positive), per occurrence in the period."""
    name: str
    count: Literal["returned_twice", "late_returns", "escalations"]
    points: Annotated[float, Field(ge=-100, le=100)]
    tiers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tiers_with_escalations(self):
        if (self.count == "escalations") != bool(self.tiers):
            raise ValueError("tiers: name the ladder tiers when count is escalations, and only then")
        return self


TriageLevel = Literal["红", "橙", "黄"]
TriageCheck = Literal["focus", "holiday", "peak_season", "repeat"]


class TourismTriage(Strict):
    keywords: list[str] = Field(default_factory=list)
    focus_keywords: list[str] = Field(default_factory=list)
    peak_season: list[Annotated[str, Field(pattern=r"^\d\d-\d\d(\.\.\d\d-\d\d)?$")]] = Field(default_factory=list)
    weights: dict[TriageCheck, Annotated[int, Field(ge=0, le=10)]] = Field(
        default_factory=dict)
    levels: dict[TriageLevel, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: dict[TriageLevel, int]({"红": 3, "橙": 2, "黄": 0}))

    @model_validator(mode="after")
    def _a_lowest_level(self):
        if not self.levels or min(self.levels.values()) != 0:
            raise ValueError("levels: one level needs threshold 0, so that every clue has a level")
        return self


RepeatName = Literal["same_phone", "same_address_category"]


class RepeatRule(Strict):
    """反复性: ``count`` tickets or more within ``days`` days."""
    count: Annotated[int, Field(ge=1)] = 3
    days: Annotated[int, Field(ge=1)] = 30


class Repeat(Strict):
    same_phone: RepeatRule = Field(default_factory=RepeatRule)
    same_address_category: RepeatRule = Field(default_factory=RepeatRule)


class Widespread(Strict):
    """普遍性: a category handled by ``min_units`` units in the period, or spiking against the
    ``spike_weeks`` periods before (``spike_factor`` × their average, at least ``spike_min_volume``)."""
    min_units: Annotated[int, Field(ge=1)] = 12
    spike_factor: Annotated[float, Field(gt=0)] = 2.0
    spike_weeks: Count = 4
    spike_min_volume: Count = 10
Severity = Literal["敏感", "重大", "一般"]


class SeverityRule(Strict):
    """One 分级研判 rule (worker.grading): it matches when any of its criteria does."""
    name: Annotated[str, Field(min_length=1, max_length=40)]
    level: Severity
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    min_people: Annotated[int, Field(ge=1)] | None = None
    min_amount_yuan: Annotated[int, Field(ge=1)] | None = None
    repeat: list[RepeatName] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    urgent_kinds: list[Literal["policy", "livelihood", "safety"]] = Field(default_factory=list)


class ClassRule(Strict):
    name: str
    class_: Literal["A", "B", "C"] = Field(alias="class")
    repeat: RepeatName | None = None
    widespread: bool = False


class Grading(Strict):
    daily_sheet_levels: list[Severity] = Field(default=["敏感", "重大"])   # copied for each model
    severity: list[SeverityRule] = Field(default_factory=list)
    class_: list[ClassRule] = Field(default_factory=list, alias="class")

    @model_validator(mode="after")
    def _a_last_rule(self):
        if self.severity and any(getattr(self.severity[-1], k) for k in (
                "keywords", "min_people", "min_amount_yuan", "repeat", "categories", "urgent_kinds")):
            raise ValueError("severity: the last rule needs no criteria (the default level, e.g. 一般), "
                             "so that every ticket has a level")
        return self


class Metrics(Strict):
    requirement: Requirement = Field(default_factory=Requirement)
    bottom: Bottom = Field(default_factory=Bottom)
    weights: Weights = Field(default_factory=Weights)
    ranked_unit_kinds: list[Literal["department", "territorial"]] = Field(default=["department", "territorial"])
    min_callbacks_to_fail: Count = 1
    dual_rates: Literal["final", "first"] = "final"
    warning_working_days: Count = 1
    repeat: Repeat = Field(default_factory=Repeat)
    widespread: Widespread = Field(default_factory=Widespread)
    hot_categories: Count = 5
    typical_cases: Count = 3
    law_enforcement_codes: list[str] = Field(default_factory=list)
    grading: Grading = Field(default_factory=Grading)
    rating: Rating = Field(default_factory=Rating)
    supervision: Supervision = Field(default_factory=Supervision)
    adjustments: list[Adjustment] = Field(default_factory=list)
    tourism_triage: TourismTriage | None = None


class Meeting(Strict):
    after_working_days: Count = 3
    at: str = "09:30"
    place: str = ""
    with_: str = Field("", alias="with")


class Submission(Strict):
    """A tier's 提请 to the body asked (seed 004 ③④): 主送, title, the request, its closing words."""
    to: str
    title: str
    request: str
    closing: str = ""
    recipients: list[str] = Field(default_factory=list)


class Tier(Strict):
    name: str
    label: str | None = None
    after: dict[Literal["weeks", "months"], Annotated[int, Field(ge=1)]]
    title: str | None = None
    decision: str | None = None
    meeting: Meeting | None = None
    materials_working_days: Count = 2
    recipients: list[str] = Field(default_factory=lambda: ["unit_head"])   # the unit acts on its notice
    informed: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    submission: Submission | None = None
    public_exposure: bool = False
    requires: str | None = None

    @model_validator(mode="after")
    def _one_unit(self):
        if len(self.after) != 1:
            raise ValueError("after: expected {weeks: N} or {months: N}")
        return self


class Escalation(Strict):
    meeting_defaults: Meeting = Field(default_factory=Meeting)
    tiers: list[Tier]

    @model_validator(mode="after")
    def _requires(self):
        seen = []
        for tier in self.tiers:
            if tier.requires and tier.requires not in seen:
                raise ValueError(f"tier {tier.name!r}: requires {tier.requires!r}, which is not a tier listed before it")
            seen.append(tier.name)
        return self


class Kind(Strict):
    issuer: str = "centre"
    number_prefix: str | None = None
    contact: str | None = None
    cc: list[str] = Field(default_factory=list)
    printer: str | None = None
    to: str | None = None
    draft: bool = False


class Face(Strict):
    family: str
    weight: Literal["regular", "bold"] = "regular"


class Fonts(Strict):
    title: Face = Face(family="Noto Serif CJK SC", weight="bold")         # 小标宋 substitute
    body: Face = Face(family="Noto Serif CJK SC")                         # 仿宋 substitute
    heading1: Face = Face(family="Noto Sans CJK SC", weight="bold")       # 黑体
    heading2: Face = Face(family="AR PL UKai CN")                         # 楷体


class Contact(Strict):
    office: str = ""
    name: str = ""
    phone: str = ""
    email: Address | None = None


class DailySheet(Strict):
    # At most 10 a kind: the sheet's budget of 12 pages (docs/scale.md).
    serious_cases: Annotated[int, Field(ge=1, le=10)] = 8


class LawPush(Strict):
    # Up to 40 rows: about five pages with the unit table, at any size (docs/scale.md).
    listed_tickets: Annotated[int, Field(ge=1, le=40)] = 20


class Documents(Strict):
    district: str = ""
    short: str = ""
    issuers: dict[str, str]
    kinds: dict[str, Kind] = Field(default_factory=dict)
    contact: Contact = Field(default_factory=Contact)
    fonts: Fonts = Field(default_factory=Fonts)
    distribution: dict[str, dict[Literal["报", "送", "发"], str]] = Field(default_factory=dict)
    title_words: list[str] = Field(default_factory=list)
    daily_sheet: DailySheet = Field(default_factory=DailySheet)
    law_push: LawPush = Field(default_factory=LawPush)
    ticket_reports: dict[str, list[Literal["ticket_national_report", "ticket_provincial_statement",
                                           "ticket_provincial_form"]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _issuers(self):
        from .schema import suggest
        for kind, spec in self.kinds.items():
            for key in ("issuer", "contact"):
                name = getattr(spec, key)
                if name is not None and name not in self.issuers:
                    raise ValueError(f"kinds.{kind}.{key}: {name!r} is not one of issuers{suggest(name, self.issuers)}")
        return self


class Alerts(Strict):
    default: list[Address] = Field(default_factory=list)
    owners: dict[str, list[Address]] = Field(default_factory=dict)
    queued_minutes: Annotated[int, Field(ge=1)] = 15
    outbox_backlog_minutes: Annotated[int, Field(ge=1)] = 30
    calendar_days: Annotated[int, Field(ge=1)] = 60


class Channel(Strict):
    label: str | None = None
    reply_working_days: Count | None = None
    completion_working_days: Count


class Rules(Strict):
    channels: dict[str, Channel]
    urgent_kinds: dict[str, dict[str, Any]] = Field(default_factory=dict)
    return_window_working_days: Count
    extension: dict[str, Any] = Field(default_factory=dict)
    plan: dict[str, Any] = Field(default_factory=dict)
    ownership_dispute_hours: Count
    response_hours: Count


class Year(Strict):
    holidays: list[str] = Field(default_factory=list)
    workdays: list[str] = Field(default_factory=list)


class Calendar(Strict):
    years: dict[int, Year | None] = Field(default_factory=dict)


class DirectoryUnit(Strict):
    code: str
    name: str
    kind: Literal["department", "territorial", "hotline_center", "justice_bureau", "analysis_group", "leadership"]
    parent: str | None = None
    active: bool = True


class DirectoryPerson(Strict):
    name: str
    email: Address | None = None
    role: Literal["unit_head", "leader_in_charge", "principal_leader", "peoples_congress", "district_committee",
                  "hotline_center", "justice_bureau", "analysis_group", "liaison"]
    unit: str | None = None
    title: str | None = None
    oversees: list[str] = Field(default_factory=list)


class DirectoryCategory(Strict):
    code: str
    name: str
    law_enforcement: bool = False
    urgent_kind: Literal["policy", "livelihood", "safety"] | None = None
    tourism: bool = False
    should_handle: bool = True


class Directory(Strict):
    district: str | None = None
    units: list[DirectoryUnit] = Field(default_factory=list)
    people: list[DirectoryPerson] = Field(default_factory=list)
    categories: list[DirectoryCategory] = Field(default_factory=list)


class Console(Strict):
    published_kinds: list[str] = Field(default_factory=lambda: ["weekly_bulletin", "monthly_analysis",
                                                                 "monthly_summary"])
    law_kinds: list[str] = Field(default_factory=lambda: ["law_push", "monthly_law_report"])
    session_hours: Annotated[int, Field(ge=1, le=24)] = 8
    lock_after_failures: Annotated[int, Field(ge=1)] = 5
    lock_address_after_failures: Annotated[int, Field(ge=1)] = 20
    lock_minutes: Annotated[int, Field(ge=1)] = 15
    known_address_days: Annotated[int, Field(ge=1)] = 30
    kind_labels: dict[str, str] = Field(default_factory=dict)
    job_labels: dict[str, str] = Field(default_factory=dict)
    source_labels: dict[str, str] = Field(default_factory=dict)


class ImportLimits(Strict):
    max_content_chars: Annotated[int, Field(ge=1)] = 20000
    future_tolerance_minutes: Count = 10
    inbox_quiet_seconds: Count = 60


class ImportMapping(Strict):
    columns: dict[str, str]
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    number_pattern: str = "[0-9]{15}"   # the sample platform's 工单编号: its date and the day's serial
    limits: ImportLimits = Field(default_factory=ImportLimits)

    @field_validator("number_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression ({exc})") from None
        return value


MODELS: dict[str, type[Strict]] = {"metrics": Metrics, "escalation": Escalation, "documents": Documents, "alerts": Alerts, "rules": Rules,
          "console": Console, "import-mapping": ImportMapping}
CHECKS = {k: v for k, v in MODELS.items() if k != "rules"}   # the ones without a loader of their own
OPTIONAL = {"console"}   # a folder without the file runs on the model's defaults


def parse(model: type[M], path: Path) -> M:
    """The file as its model; ``ConfigError`` listing every problem, each with its line."""
    data = load_yaml(path)
    try:
        return model.model_validate(plain(data))
    except ValidationError as exc:
        raise ConfigError("\n".join(problems(exc, data, path, model, with_key=True))) from None


def check(name: str, path: Path) -> None:
    """Raise ``ConfigError`` listing every problem of a policy file, each with its line."""
    others: dict[str, type[Strict]] = {"calendar": Calendar, "directory": Directory}
    model = MODELS.get(name) or others.get(name)
    if model is not None:
        parse(model, path)
