"""The plan as data: units, indicators, targets, deadlines and quotas of one review.

A plan is a folder (``plans/long_an_2020/`` ships with the package): ``plan.toml`` for settings
and CSV files a province can correct in Excel. :func:`load` validates every row and every
cross-reference and stops with :class:`PlanError`, one Vietnamese line naming file and row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import messages
from .errors import DataError

DEFAULT_PLAN = "long_an_2020"

TargetKind = Literal["min", "range", "increase", "none"]
Verified = Literal["yes", "partial", "no", "missing", "n/a"]
Verdict = Literal["dat", "khong-dat", "vuot"]
SELF = "self"


class PlanError(DataError):
    """The plan folder cannot be used; ``str()`` is one line a clerk can act on."""

    def __init__(self, file: str, text: str, row: int | None = None):
        where = (
            messages.text("plan.where-row", file=file, row=row)
            if row is not None
            else messages.text("plan.where-file", file=file)
        )
        super().__init__(messages.text("plan.error", where=where, text=text))
        self.file, self.row = file, row


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Level(_Model):
    code: str
    name: str
    unit_noun: str
    parent: str = ""
    template: str = "chung"


class Unit(_Model):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    type: str
    level: str
    parent: str = ""
    role: str = ""
    contact_person: str = ""
    contact_phone: str = ""
    topic: str = ""

    @property
    def label(self) -> str:
        """What a dropdown shows and a reader parses back: ``"27685 - Phường 5"``."""
        return f"{self.code} - {self.name}"


class UnitChange(_Model):
    old_code: str
    old_name: str
    parent: str
    new_code: str
    new_name: str
    change: str
    effective: dt.date
    basis: str = ""
    certainty: str = ""


class Group(_Model):
    code: str
    name: str


class Indicator(_Model):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    group: str
    name: str
    unit: str
    measure: Literal["rate", "amount"]
    numerator: str = ""
    denominator: str = ""
    levels: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    authority: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    status: Literal["VERIFIED", "PARTIAL", "UNVERIFIED", "TARGET_MISSING", "REPORTING_ONLY"]
    source: str = ""

    @field_validator("levels", "departments", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(";") if part.strip())
        return value

    @field_validator("authority", mode="before")
    @classmethod
    def _authority(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        out: dict[str, tuple[str, ...]] = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            level, eq, sources = part.partition("=")
            items = tuple(s.strip() for s in sources.split("+") if s.strip())
            if not eq or not level.strip() or not items or level.strip() in out:
                raise ValueError(part)
            out[level.strip()] = items
        return out


class Target(_Model):
    indicator: str
    milestone: int
    kind: TargetKind
    low: float | None = None
    high: float | None = None
    verified: Verified
    source: str = ""

    def verdict(self, rate: float | None, previous: float | None = None) -> Verdict | None:
        """Đạt / Không đạt / Vượt for a rate in percent, compared after rounding half-up to 0.1.

        The same rule is written as an Excel formula by the templates (see ``layout``).
        ``previous`` is the rate at the previous milestone, used by ``increase`` targets.
        """
        if rate is None or self.kind == "none":
            return None
        r = round_rate(rate)
        if self.kind == "increase":
            if previous is None:
                return None
            return "dat" if r > round_rate(previous) else "khong-dat"
        assert self.low is not None
        if r < Decimal(repr(self.low)):
            return "khong-dat"
        top = self.high if self.kind == "range" else self.low
        return "dat" if r <= Decimal(repr(top)) else "vuot"


class Deadline(_Model):
    level: str
    date: dt.date
    overridable: bool = False
    basis: str = ""


class AwardLevel(_Model):
    code: str
    name: str
    basis: str = ""


class Quota(_Model):
    award: str
    proposer_level: str
    collective: int = Field(ge=0)
    individual: int = Field(ge=0)
    basis: str = ""


class OutlineItem(_Model):
    code: str
    title: str
    kind: Literal["heading", "text", "appendix", "awards"]


class ReportDocument(_Model):
    """A document a level issues with its review (NĐ 30/2020/NĐ-CP form): who issues it, under
    what authority it is signed, to whom it goes. ``issuer`` "committee" is the people's committee
    of the consolidating unit (UBND tỉnh, UBND huyện), otherwise a unit code (SGDDT)."""

    level: str
    kind: Literal["report", "cover"]  # Báo cáo / Tờ trình submitting the report
    issuer: str = "committee"
    basis: str = ""  # what the document answers ("Thực hiện …"); default: the plan's basis
    to: str = ""  # the addressee (Kính gửi) of a cover; where a report goes
    signer: tuple[str, ...] = ()  # authority and title lines of the signature block
    recipients: tuple[str, ...] = ()  # Nơi nhận, one line each
    source: str = ""  # the articles of the plan this follows


class ReportSettings(_Model):
    """How the draft report reads the plan: the documents each level issues, which outline items
    carry the funding figures, this review's timeliness and the de-duplicated proposals."""

    documents: tuple[ReportDocument, ...] = ()
    funding_items: dict[str, str] = Field(default_factory=dict)  # outline item -> funding source
    funding_labels: dict[str, str] = Field(default_factory=dict)  # funding source -> short name
    status_item: str = ""
    proposals_item: str = ""


class Settings(_Model):
    id: str
    title: str
    short_title: str
    basis: str
    province: str
    standing_body: str
    submit_email: str = ""
    submit_address: str = ""
    template_version: str
    milestones: tuple[int, ...]
    funding_years: tuple[int, ...]
    funding_unit: str
    funding_sources: tuple[str, ...]
    levels: tuple[Level, ...]
    deadlines: tuple[Deadline, ...]
    award_levels: tuple[AwardLevel, ...]
    quotas: tuple[Quota, ...]
    outline: tuple[OutlineItem, ...]
    report: ReportSettings = ReportSettings()

    @model_validator(mode="after")
    def _report_refs(self) -> Settings:
        items = {o.code for o in self.outline}
        levels = {lv.code for lv in self.levels}
        r = self.report
        for code in [*r.funding_items, r.status_item, r.proposals_item]:
            if code and code not in items:
                raise ValueError(f"report: {code}")
        for code in [*r.funding_items.values(), *r.funding_labels]:
            if code not in self.funding_sources:
                raise ValueError(f"report: {code}")
        for d in r.documents:
            if d.level not in levels:
                raise ValueError(f"report.documents: {d.level}")
        return self


def round_half_up(value: float, digits: int = 1) -> Decimal:
    """``value`` rounded half-up (away from zero) to ``digits`` decimals, as Excel's ROUND does.

    The one rounding rule of every output (CLERK.md "one rounding rule everywhere"): rates in
    percent and amounts in triệu đồng are rounded with it to one decimal, once, where they are
    computed (``aggregate``), and every writer shows that value. Going through 15 significant
    digits first reproduces Excel, which rounds the decimal number it displays
    (ROUND(2.675, 2) = 2.68), not the binary float below it.
    """
    return Decimal(f"{value:.15g}").quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def round_rate(rate: float) -> Decimal:
    """A percentage rounded half-up to 0.1 point (98.15 -> 98.2), as the templates' ROUND(x, 1).

    The templates compare ROUND(rate, 1) with the target, and so does :meth:`Target.verdict`.
    Idempotent: ``round_rate(float(round_rate(x))) == round_rate(x)``.
    """
    return round_half_up(rate, 1)


def rounded(value: float | None, digits: int = 1) -> float:
    """:func:`round_half_up` as a float, NaN for a missing value."""
    if value is None or value != value:
        return float("nan")
    return float(round_half_up(float(value), digits))


def rounded_array(values, digits: int = 1) -> np.ndarray:
    """:func:`rounded` over an array (NaN stays NaN), fast: numpy rounds every value that is
    not within 1e-6 of a half (where only the tie rule can differ), :func:`rounded` the rest."""
    x = np.asarray(values, dtype=float)
    scaled = x * 10.0**digits
    out = np.round(scaled) / 10.0**digits
    near = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6
    for i in np.flatnonzero(near):
        out[i] = rounded(float(x[i]), digits)
    return out


class Plan:
    """A loaded, cross-checked plan with lookups by code."""

    def __init__(
        self,
        folder: Path,
        settings: Settings,
        units: list[Unit],
        changes: list[UnitChange],
        groups: list[Group],
        indicators: list[Indicator],
        targets: list[Target],
    ):
        self.folder = folder
        self.settings = settings
        self.units = {u.code: u for u in units}
        self.changes = {c.old_code: c for c in changes}
        self.groups = {g.code: g for g in groups}
        self.indicators = {i.code: i for i in indicators}
        self.targets = {(t.indicator, t.milestone): t for t in targets}
        self.levels = {lv.code: lv for lv in settings.levels}
        self._children: dict[str, list[Unit]] = {}
        for unit in units:
            self._children.setdefault(unit.parent, []).append(unit)

    # -- settings shortcuts -------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def milestones(self) -> tuple[int, ...]:
        return self.settings.milestones

    @property
    def province(self) -> Unit:
        return self.units[self.settings.province]

    # -- units ----------------------------------------------------------------------------
    def unit(self, code: str) -> Unit | None:
        return self.units.get(str(code).strip())

    def children(self, code: str, level: str | None = None) -> list[Unit]:
        """Direct sub-units of ``code`` (optionally only those of ``level``), in plan order."""
        kids = self._children.get(code, [])
        return [u for u in kids if level is None or u.level == level]

    def units_at(self, level: str) -> list[Unit]:
        return [u for u in self.units.values() if u.level == level]

    def descendants(self, code: str) -> Iterator[Unit]:
        for child in self.children(code):
            yield child
            yield from self.descendants(child.code)

    def nominee_scope(self, code: str) -> set[str] | None:
        """Codes of the units a nomination proposed by unit ``code`` may name: the unit and every
        unit under it; None (any unit) for the province and its departments, and for a code the
        plan does not know. A nominee elsewhere is a ``nominee-outside`` error (``quotas.check``)."""
        unit = self.unit(code)
        if unit is None or unit.level in ("tinh", "so_nganh"):
            return None
        return {code, *(u.code for u in self.descendants(code))}

    def child_levels(self, level: str) -> list[str]:
        """Levels whose units report to a unit of ``level`` (``huyen`` -> ``["xa"]``)."""
        return [lv.code for lv in self.settings.levels if lv.parent == level]

    def resolve_code(self, code: str) -> tuple[str, UnitChange | None]:
        """Map a unit code from before a boundary change to today's code."""
        change = self.changes.get(str(code).strip())
        if change is None or change.old_code == change.new_code:  # renamed or retyped: code still valid
            return str(code).strip(), None
        return change.new_code, change

    # -- indicators and targets -----------------------------------------------------------
    def rate_indicators(self) -> list[Indicator]:
        """Indicators measured as numerator / denominator, in plan order (the results table)."""
        return [i for i in self.indicators.values() if i.measure == "rate"]

    def entered_by(self, indicator: Indicator, level: str, unit: Unit | None = None) -> bool:
        """Whether a unit of ``level`` types this indicator into its own template."""
        if level == "so_nganh" or (unit is not None and unit.level == "so_nganh"):
            if "so_nganh" in indicator.levels:
                return True
            if unit is None:
                return bool(indicator.departments)
            return unit.code in indicator.departments
        return level in indicator.levels

    def target(self, indicator: str, milestone: int) -> Target:
        return self.targets[(indicator, milestone)]

    def deadline(self, level: str) -> Deadline | None:
        return next((d for d in self.settings.deadlines if d.level == level), None)

    def award(self, code: str) -> AwardLevel | None:
        return next((a for a in self.settings.award_levels if a.code == code), None)

    def quota(self, award: str, proposer_level: str) -> Quota | None:
        return next(
            (q for q in self.settings.quotas if q.award == award and q.proposer_level == proposer_level),
            None,
        )

    def narrative_items(self) -> list[OutlineItem]:
        return [o for o in self.settings.outline if o.kind == "text"]

    @cached_property
    def fingerprint(self) -> str:
        """Hash of what shapes the templates (codes, names, levels), not of target values.

        Correcting a target or a contact keeps the fingerprint, so templates already sent stay valid.
        """
        s = self.settings
        shape = {
            "id": s.id,
            "milestones": s.milestones,
            "funding": [s.funding_years, s.funding_sources],
            "levels": [(lv.code, lv.parent, lv.template) for lv in s.levels],
            "indicators": [
                (
                    i.code,
                    i.group,
                    i.name,
                    i.unit,
                    i.measure,
                    i.numerator,
                    i.denominator,
                    i.levels,
                    i.departments,
                )
                for i in self.indicators.values()
            ],
            "outline": [(o.code, o.title, o.kind) for o in s.outline],
            "awards": [a.code for a in s.award_levels],
        }
        blob = json.dumps(shape, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# -- loading -------------------------------------------------------------------------------


def default_folder() -> Path:
    return Path(str(resources.files("xhht_xl") / "plans" / DEFAULT_PLAN))


def _read_csv(folder: Path, name: str, columns: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    path = folder / name
    if not path.is_file():
        raise PlanError(name, messages.text("plan.file-missing", file=name))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(name, messages.text("plan.unreadable", reason=exc)) from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    for column in columns:
        if column not in header:
            raise PlanError(name, messages.text("plan.missing-column", column=column), row=1)
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        yield line_no, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}


def _build(model: type[_Model], file: str, row: int, data: dict) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        column = ".".join(str(p) for p in err["loc"]) or "?"
        value = data.get(err["loc"][0], "") if err["loc"] else ""
        raise PlanError(
            file, messages.text("plan.bad-value", column=column, value=value, reason=err["msg"]), row=row
        ) from None


def _number(file: str, row: int, column: str, text: str) -> float | None:
    if not text:
        return None
    # Targets are percentages: "99.5" and "99,5" both mean 99.5; nothing else is accepted.
    try:
        if text.count(",") + text.count(".") > 1:
            raise ValueError(text)
        return float(text.replace(",", "."))
    except ValueError:
        raise PlanError(file, messages.text("plan.bad-number", column=column, value=text), row=row) from None


def _unique(file: str, rows: Iterable[tuple[int, str]]) -> None:
    seen: dict[str, int] = {}
    for row, code in rows:
        if code in seen:
            raise PlanError(file, messages.text("plan.duplicate-code", code=code, first=seen[code]), row=row)
        seen[code] = row


def load(folder: str | Path | None = None) -> Plan:
    """Load and cross-check a plan folder; the default is the built-in Long An 2020 plan."""
    folder = Path(folder) if folder is not None else default_folder()
    if not folder.is_dir():
        raise PlanError(str(folder), messages.text("plan.folder-missing", folder=folder))
    settings = _load_settings(folder)
    level_codes = {lv.code for lv in settings.levels}

    def known_level(file: str, row: int | None, level: str) -> None:
        if level not in level_codes:
            raise PlanError(file, messages.text("plan.unknown-level", level=level), row=row)

    for lv in settings.levels:
        if lv.parent:
            known_level("plan.toml", None, lv.parent)
    for d in settings.deadlines:
        known_level("plan.toml", None, d.level)
    awards = {a.code for a in settings.award_levels}
    for q in settings.quotas:
        if q.award not in awards:
            raise PlanError("plan.toml", messages.text("plan.unknown-award", award=q.award))
        known_level("plan.toml", None, q.proposer_level)

    # units
    unit_rows = [
        (row, _build(Unit, "units.csv", row, data))
        for row, data in _read_csv(folder, "units.csv", ["code", "name", "type", "level", "parent"])
    ]
    _unique("units.csv", ((row, u.code) for row, u in unit_rows))
    by_code = {u.code: u for _, u in unit_rows}
    levels = {lv.code: lv for lv in settings.levels}
    for row, u in unit_rows:
        known_level("units.csv", row, u.level)
        if not u.parent:
            continue
        parent = by_code.get(u.parent)
        if parent is None:
            raise PlanError(
                "units.csv", messages.text("plan.unknown-parent", code=u.code, parent=u.parent), row=row
            )
        expected = levels[u.level].parent
        if parent.level != expected:
            raise PlanError(
                "units.csv",
                messages.text(
                    "plan.wrong-parent-level",
                    code=u.code,
                    level=u.level,
                    parent=u.parent,
                    parent_level=parent.level,
                    expected=expected,
                ),
                row=row,
            )
    issuers = [d.issuer for d in settings.report.documents if d.issuer != "committee"]
    for code in (settings.province, settings.standing_body, *issuers):
        if code not in by_code:
            raise PlanError("plan.toml", messages.text("plan.unknown-unit", code=code))

    changes = []
    for row, data in _read_csv(folder, "unit_changes.csv", ["old_code", "new_code", "effective"]):
        change = _build(UnitChange, "unit_changes.csv", row, data)
        if change.new_code not in by_code:
            raise PlanError(
                "unit_changes.csv", messages.text("plan.unknown-unit", code=change.new_code), row=row
            )
        changes.append((row, change))
    _unique("unit_changes.csv", ((row, c.old_code) for row, c in changes))

    groups = [
        (row, _build(Group, "groups.csv", row, d))
        for row, d in _read_csv(folder, "groups.csv", ["code", "name"])
    ]
    _unique("groups.csv", ((row, g.code) for row, g in groups))
    group_codes = {g.code for _, g in groups}

    indicators = []
    columns = ["code", "group", "name", "unit", "measure", "levels", "departments", "authority", "status"]
    for row, data in _read_csv(folder, "indicators.csv", columns):
        try:
            Indicator._authority(data.get("authority", ""))
        except ValueError:
            raise PlanError(
                "indicators.csv",
                messages.text(
                    "plan.bad-authority", code=data.get("code", ""), text=data.get("authority", "")
                ),
                row=row,
            ) from None
        ind = _build(Indicator, "indicators.csv", row, data)
        if ind.group not in group_codes:
            raise PlanError(
                "indicators.csv", messages.text("plan.unknown-group", code=ind.code, group=ind.group), row=row
            )
        for level in ind.levels:
            known_level("indicators.csv", row, level)
        for dep in ind.departments:
            if dep not in by_code or by_code[dep].level != "so_nganh":
                raise PlanError(
                    "indicators.csv",
                    messages.text("plan.unknown-department", code=ind.code, department=dep),
                    row=row,
                )
        for level, sources in ind.authority.items():
            known_level("indicators.csv", row, level)
            for src in sources:
                if src != SELF and src not in level_codes and src not in by_code:
                    raise PlanError(
                        "indicators.csv",
                        messages.text("plan.bad-authority", code=ind.code, text=data.get("authority", "")),
                        row=row,
                    )
        indicators.append((row, ind))
    _unique("indicators.csv", ((row, i.code) for row, i in indicators))
    ind_by_code = {i.code: i for _, i in indicators}
    for code in settings.funding_sources:
        if code not in ind_by_code or ind_by_code[code].measure != "amount":
            raise PlanError("plan.toml", messages.text("plan.bad-funding-source", code=code))

    targets = []
    seen: dict[tuple[str, int], int] = {}
    for row, data in _read_csv(
        folder, "targets.csv", ["indicator", "milestone", "kind", "low", "high", "verified"]
    ):
        low = _number("targets.csv", row, "low", data.get("low", ""))
        high = _number("targets.csv", row, "high", data.get("high", ""))
        target = _build(Target, "targets.csv", row, {**data, "low": low, "high": high})
        if target.indicator not in ind_by_code:
            raise PlanError(
                "targets.csv", messages.text("plan.unknown-indicator", code=target.indicator), row=row
            )
        if target.milestone not in settings.milestones:
            raise PlanError(
                "targets.csv", messages.text("plan.unknown-milestone", milestone=target.milestone), row=row
            )
        key = (target.indicator, target.milestone)
        if key in seen:
            raise PlanError(
                "targets.csv",
                messages.text("plan.duplicate-code", code=f"{key[0]} {key[1]}", first=seen[key]),
                row=row,
            )
        seen[key] = row
        reason = _target_problem(target)
        if reason:
            raise PlanError(
                "targets.csv",
                messages.text(
                    "plan.bad-target", code=target.indicator, milestone=target.milestone, reason=reason
                ),
                row=row,
            )
        targets.append(target)
    for _, ind in indicators:
        for m in settings.milestones:
            if (ind.code, m) not in seen:
                raise PlanError(
                    "targets.csv", messages.text("plan.missing-target", code=ind.code, milestone=m)
                )

    return Plan(
        folder,
        settings,
        [u for _, u in unit_rows],
        [c for _, c in changes],
        [g for _, g in groups],
        [i for _, i in indicators],
        targets,
    )


def _target_problem(t: Target) -> str:
    if t.kind == "min" and (t.low is None or t.high is not None):
        return "kind=min cần đúng một giá trị ở cột low"
    if t.kind == "range" and (t.low is None or t.high is None or t.low >= t.high):
        return "kind=range cần low < high"
    if t.kind in ("increase", "none") and (t.low is not None or t.high is not None):
        return f"kind={t.kind} không ghi giá trị ở cột low/high"
    return ""


def _load_settings(folder: Path) -> Settings:
    path = folder / "plan.toml"
    if not path.is_file():
        raise PlanError("plan.toml", messages.text("plan.file-missing", file="plan.toml"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise PlanError("plan.toml", messages.text("plan.bad-toml", reason=exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError("plan.toml", messages.text("plan.unreadable", reason=exc)) from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        column = ".".join(str(p) for p in err["loc"])
        raise PlanError(
            "plan.toml", messages.text("plan.bad-value", column=column, value="", reason=err["msg"])
        ) from None
    for name, codes in (
        ("levels", [lv.code for lv in settings.levels]),
        ("award_levels", [a.code for a in settings.award_levels]),
        ("outline", [o.code for o in settings.outline]),
    ):
        _unique(f"plan.toml [{name}]", enumerate(codes, start=1))
    return settings
